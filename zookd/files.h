/* zookfs's file side: regular files under the root, opened with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) so that no path or
 * symlink leads outside; small files cached in memory while a stat() shows
 * the same file; big ones sent with sendfile. */
#ifndef ZOOK_FILES_H
#define ZOOK_FILES_H

#include <stddef.h>

#include "http.h"

#define SMALL_FILE (64 * 1024)

/* root: an O_PATH descriptor of the directory served. */
void files_init(int root);
/* A cached file that is still what the path names, copied into out
 * (SMALL_FILE bytes): its length, or -1. path is decoded and normalised. */
long files_cached(const char *path, char *out);
/* The 200 head for a file of this size (out holds 512 bytes); its length. */
size_t files_head(char *out, const char *path, long long size, int keep);
/* Answer GET or HEAD of path on fd. HTTP_OK, HTTP_CLOSED (the answer may
 * have been cut: close) or an error to answer (nothing was sent). */
enum http_err files_serve(int fd, const char *path, int is_head, int keep);

#endif
