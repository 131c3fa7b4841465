/* A client connection's input buffer (which may hold pipelined bytes past
 * the current request) and reading request heads into it. */
#ifndef ZOOK_CONN_H
#define ZOOK_CONN_H

#include <stddef.h>

#include "http.h"

struct limits;

struct conn {
    int fd;
    char *buf;
    size_t cap, len;
    int nreq; /* requests served so far */
    size_t scanned;   /* bytes of the current head already searched */
    int checked_line; /* the request line (or its limit) has been checked */
    int timeo_ms; /* current SO_RCVTIMEO */
};
/* Allocate the buffer (HTTP_MAX_HEAD + slack). -1 on no memory. */
int conn_init(struct conn *c, int fd);
void conn_free(struct conn *c);
/* Read until a complete request head is parsed into h. HTTP_CLOSED: peer
 * closed, or went silent before any byte, or closed in the middle of a head
 * (close silently); other errors are to be answered with their status. */
enum http_err conn_read_head(struct conn *c, struct http_head *h, const struct limits *l);
/* Is a complete head (or an error) in the buffer? HTTP_INCOMPLETE if
 * neither; otherwise the head's parse result. Empty lines before a request
 * line are dropped; an invalid request line is an error as soon as it is
 * complete, an invalid header once the head is. Cheap to call after every
 * read. */
enum http_err conn_check_head(struct conn *c, struct http_head *h);
/* Drop the first n bytes of the buffer (a finished request). */
void conn_consume(struct conn *c, size_t n);
/* Answer with an error page (Connection: close). */
void conn_send_error(struct conn *c, enum http_err e);
/* Take a request's head (head_len bytes) and its body of `length` bytes
 * off the connection: what the buffer holds, then reads, each within
 * ZOOK_IO_TIMEOUT_MS and all by the whole-body deadline (body_deadline()).
 * sink(arg, p, n) gets each piece in order (NULL drops them). HTTP_OK,
 * HTTP_CLOSED (the peer closed or failed), HTTP_E_TIMEOUT (too slow), or
 * the first error the sink returned. */
typedef enum http_err (*body_sink)(void *arg, const char *p, size_t n);
enum http_err conn_read_body(struct conn *c, size_t head_len, uint64_t length,
                             const struct limits *l, body_sink sink, void *arg);
/* A sink into memory the caller allocated for the whole body (p), n so far. */
struct body_buf {
    char *p;
    size_t n;
};
enum http_err body_to_memory(void *arg, const char *p, size_t n);

#endif
