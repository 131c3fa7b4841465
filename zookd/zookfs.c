/* zookfs <zook.conf> <section>: files or CGI under the section's dir.
 *
 * Without `exec` keys: serves regular files under dir (GET and HEAD) —
 * files.c; directories and special files are 403; nothing is executed.
 * With `exec` keys: the URL paths listed (and PATH_INFO below them) run as
 * CGI/1.1 scripts at dir + path — cgi.c; nothing else is served.
 *
 * Keep-alive; the event loop (evloop.c) answers GETs of cached small files
 * itself, a thread per request does the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgi.h"
#include "conf.h"
#include "evloop.h"
#include "files.h"
#include "http.h"

static struct limits limits;
static int cgi_mode;

/* One request whose head is in h: answer it, blocking. 1 keeps the connection. */
static int handle_one(struct conn *c, struct http_head *h, const char *peer)
{
    char path[HTTP_MAX_REQUEST_LINE + 1];
    int keep = http_keep_alive(h);
    size_t plen;
    enum http_err e = http_decode_path(h->target.p, h->target.n, path, sizeof path, &plen);
    if (e == HTTP_OK && cgi_mode) {
        e = cgi_serve(c, h, path, peer, keep);
    } else if (e == HTTP_OK) {
        int is_head = h->method.n == 4 && memcmp(h->method.p, "HEAD", 4) == 0;
        int is_get = h->method.n == 3 && memcmp(h->method.p, "GET", 3) == 0;
        struct http_body b;
        if (!is_get && !is_head)
            e = HTTP_E_METHOD;
        else if ((e = http_request_body(h, limits.max_body, &b)) == HTTP_OK)
            /* a body has no use here: read and dropped. h's spans point
             * into c->buf, which that shifts; path and is_head are taken. */
            e = conn_read_body(c, h->len, b.length, &limits, NULL, NULL);
        if (e == HTTP_OK)
            e = files_serve(c->fd, path, is_head, keep);
    }
    if (e != HTTP_OK) {
        if (e != HTTP_CLOSED)
            conn_send_error(c, e);
        return 0;
    }
    return keep;
}

/* ---- on the event loop (evloop.h): cached small files are answered by
 * the loop, everything else (CGI, misses, bodies) in a thread ---- */

struct fsconn {
    struct ev_conn ev;
    char head[512];
    char body[SMALL_FILE];
};

static void fs_request(struct ev_conn *cl)
{
    struct fsconn *f = (struct fsconn *)cl;
    struct http_head *h = cl->h;
    int is_get = h->method.n == 3 && memcmp(h->method.p, "GET", 3) == 0;
    char path[HTTP_MAX_REQUEST_LINE + 1];
    size_t plen;
    if (cgi_mode || !is_get || http_find(h, "content-length") ||
        http_find(h, "transfer-encoding") ||
        http_decode_path(h->target.p, h->target.n, path, sizeof path, &plen) != HTTP_OK) {
        ev_handoff(cl, EV_RESUME_REQUEST);
        return;
    }
    long len = files_cached(path, f->body);
    if (len < 0) {
        ev_handoff(cl, EV_RESUME_REQUEST);
        return;
    }
    int keep = http_keep_alive(h);
    size_t hn = files_head(f->head, path, len, keep);
    conn_consume(&cl->c, h->len);
    ev_reply(cl, f->head, hn, f->body, (size_t)len, keep);
}

static int fs_blocking(struct ev_conn *cl)
{
    return handle_one(&cl->c, cl->h, cl->ip);
}

static const struct ev_ops fs_ops = {
    .size = sizeof(struct fsconn),
    .request = fs_request,
    .blocking = fs_blocking,
};

int main(int argc, char **argv)
{
    static struct conf conf;
    const struct conf_section *sec = service_start(argc, argv, &conf, &limits);
    int port = conf_port(&conf, conf_need(&conf, sec, "port"));
    const struct conf_entry *host = conf_get(sec, "host");
    const struct conf_entry *dir = conf_need(&conf, sec, "dir");
    char rootdir[4096];
    if (!realpath(dir->value, rootdir))
        conf_die(&conf, dir->line, "dir = %s: %s", dir->value, strerror(errno));
    if (strcmp(rootdir, "/") == 0)
        rootdir[0] = '\0'; /* so that rootdir + "/x" is "/x" */
    int rootfd = open(dir->value, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        conf_die(&conf, dir->line, "dir = %s: %s", dir->value, strerror(errno));
    files_init(rootfd);
    cgi_mode = cgi_load(&conf, sec, rootdir, host ? host->value : "localhost", port, &limits) > 0;
    int lfd = service_listen(&conf, sec, "zookfs");
    fprintf(stderr, "zookfs: %s %s\n", cgi_mode ? "CGI under" : "files under", rootdir);
    ev_run(lfd, &fs_ops, &limits);
}
