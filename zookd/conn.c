/* A client connection's input buffer and request heads: see conn.h. */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "service.h"
#include "sock.h"

int conn_init(struct conn *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->cap = HTTP_MAX_HEAD + 16;
    c->buf = malloc(c->cap);
    return c->buf ? 0 : -1;
}

void conn_free(struct conn *c)
{
    free(c->buf);
    c->buf = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void conn_consume(struct conn *c, size_t n)
{
    if (n >= c->len) {
        c->len = 0;
        return;
    }
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

enum http_err conn_check_head(struct conn *c, struct http_head *h)
{
    if (!c->checked_line) {
        size_t skip = http_skip_empty_lines(c->buf, c->len);
        if (skip) {
            conn_consume(c, skip);
            c->scanned = 0;
        }
    }
    if (c->len == 0)
        return HTTP_INCOMPLETE;
    size_t from = c->scanned;
    size_t end = http_head_end(c->buf, c->len, from);
    c->scanned = c->len;
    if (!end && c->len < HTTP_MAX_HEAD + 4) {
        /* Not a whole head yet: look at the request line once, as soon as
         * it has ended (or cannot end within its limit), so that a bad one
         * is answered at once. */
        if (c->checked_line || (c->len < HTTP_MAX_REQUEST_LINE + 2 &&
                                !memchr(c->buf + from, '\n', c->len - from)))
            return HTTP_INCOMPLETE;
        c->checked_line = 1;
    }
    enum http_err e = http_parse_request(c->buf, c->len, h);
    if (e == HTTP_INCOMPLETE && c->len >= HTTP_MAX_HEAD + 4)
        return HTTP_E_HEADERS_TOO_LARGE;
    if (e != HTTP_INCOMPLETE) {
        c->scanned = 0;
        c->checked_line = 0;
    }
    return e;
}

enum http_err conn_read_head(struct conn *c, struct http_head *h, const struct limits *l)
{
    /* Waiting for the first byte of a request is the idle timeout (the
     * head timeout for a new connection); from then the whole head must
     * arrive within the head timeout. */
    int64_t start = now_ms();
    int64_t deadline = start + (c->nreq ? l->idle_timeout_ms : l->head_timeout_ms);
    int started = c->len > 0;
    if (started)
        deadline = start + l->head_timeout_ms;
    for (;;) {
        enum http_err e = conn_check_head(c, h);
        if (e != HTTP_INCOMPLETE)
            return e;
        if (c->len == c->cap)
            return HTTP_E_HEADERS_TOO_LARGE;
        ssize_t r = net_read(c->fd, c->buf + c->len, c->cap - c->len, deadline, &c->timeo_ms);
        if (r == 0)
            return HTTP_CLOSED; /* no more bytes can come: a partial head ends here */
        if (r < 0)
            return (errno == ETIMEDOUT && started) ? HTTP_E_TIMEOUT : HTTP_CLOSED;
        if (!started) {
            started = 1;
            deadline = now_ms() + l->head_timeout_ms;
        }
        c->len += (size_t)r;
    }
}

enum http_err conn_read_body(struct conn *c, size_t head_len, uint64_t length,
                             const struct limits *l, body_sink sink, void *arg)
{
    size_t have = c->len > head_len ? c->len - head_len : 0;
    size_t first = have < length ? have : (size_t)length;
    enum http_err e = first && sink ? sink(arg, c->buf + head_len, first) : HTTP_OK;
    conn_consume(c, head_len + first);
    if (e != HTTP_OK)
        return e;
    uint64_t left = length - first;
    int64_t deadline = body_deadline(l, length);
    static __thread char tmp[65536];
    while (left > 0) {
        int64_t now = now_ms();
        int64_t until = now + l->io_timeout_ms < deadline ? now + l->io_timeout_ms : deadline;
        size_t want = left < sizeof tmp ? (size_t)left : sizeof tmp;
        ssize_t r = net_read(c->fd, tmp, want, until, &c->timeo_ms);
        if (r < 0 && errno == ETIMEDOUT)
            return HTTP_E_TIMEOUT;
        if (r <= 0)
            return HTTP_CLOSED;
        if (sink && (e = sink(arg, tmp, (size_t)r)) != HTTP_OK)
            return e;
        left -= (uint64_t)r;
    }
    return HTTP_OK;
}

enum http_err body_to_memory(void *arg, const char *p, size_t n)
{
    struct body_buf *b = arg;
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return HTTP_OK;
}

void conn_send_error(struct conn *c, enum http_err e)
{
    char buf[512];
    size_t n = http_error_response(buf, sizeof buf, http_err_status(e));
    net_write_all(c->fd, buf, n, 0);
}
