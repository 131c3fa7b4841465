/* zookfs's CGI/1.1 side: the URL paths listed as `exec` (and PATH_INFO
 * below them) run as scripts at dir + path, with the request body on
 * stdin (read by the whole-body deadline) and their output, collected
 * whole (at most 16 MiB), sent back with a Content-Length. */
#ifndef ZOOK_CGI_H
#define ZOOK_CGI_H

#include "http.h"

struct conf;
struct conf_section;
struct conn;
struct limits;

/* Read the section's `exec` paths (exit 2 on a bad one); root is the
 * resolved dir, host/port what SERVER_NAME/PORT default to. Returns how
 * many there are (0: this zookfs serves files). */
int cgi_load(const struct conf *conf, const struct conf_section *sec, const char *root,
             const char *host, int port, const struct limits *l);
/* Run the script for this request (path decoded and normalised) and send
 * its answer; the head and body are taken off c. HTTP_OK, or the error to
 * answer (HTTP_CLOSED: none). */
enum http_err cgi_serve(struct conn *c, const struct http_head *h, const char *path,
                        const char *peer, int keep);

#endif
