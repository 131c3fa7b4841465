/* zookd2 <zook.conf> <section>: the dispatcher.
 *
 * Connection model: one thread per client connection; keep-alive with
 * clients (HTTP/1.1, pipelining tolerated). For each request a new
 * connection to the chosen service, which gets the request head as received
 * minus hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, Expect,
 * X-Forwarded-For), plus "X-Forwarded-For: <client>" and "Connection:
 * close", then the body. The response is relayed with the same hop-by-hop
 * headers removed: a body framed by Content-Length is relayed exactly and
 * the client connection stays open; a chunked body is relayed until the
 * service closes (chunked framing ends it for the client); a body delimited
 * only by close is relayed with "Connection: close" and the client
 * connection ends with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "http.h"
#include "net.h"

#define POOL_MAX 256

struct service {
    const char *name;
    pthread_mutex_t mu;
    int idle[POOL_MAX];
    int nidle;
    regex_t re;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

static struct service *services;
static size_t nservices;
static struct limits limits;

#define RELAY_BUF (HTTP_MAX_HEAD + 1024)

static void load_services(const struct conf *c, const struct conf_section *sec)
{
    const struct conf_entry *hs = conf_need(c, sec, "http_svcs");
    char *list = strdup(hs->value);
    if (!list)
        conf_die(c, hs->line, "out of memory");
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    services = calloc(cap, sizeof *services);
    if (!services)
        conf_die(c, hs->line, "out of memory");
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (!*tok)
            conf_die(c, hs->line, "http_svcs has an empty service name");
        const struct conf_section *s = conf_section(c, tok);
        if (!s)
            conf_die(c, hs->line, "http_svcs names [%s], which is not in the file", tok);
        struct service *svc = &services[nservices++];
        svc->name = s->name;
        pthread_mutex_init(&svc->mu, NULL);
        const struct conf_entry *url = conf_need(c, s, "url");
        size_t n = strlen(url->value) + 5;
        char *anchored = malloc(n);
        if (!anchored)
            conf_die(c, url->line, "out of memory");
        snprintf(anchored, n, "^(%s)$", url->value);
        int rc = regcomp(&svc->re, anchored, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &svc->re, msg, sizeof msg);
            conf_die(c, url->line, "url of [%s] is not a POSIX extended regex: %s", tok, msg);
        }
        free(anchored);
        const struct conf_entry *host = conf_need(c, s, "host");
        int port = conf_port(c, conf_need(c, s, "port"));
        char err[256];
        if (net_resolve(host->value, port, &svc->addr, &svc->addrlen, err, sizeof err) < 0)
            conf_die(c, host->line, "%s", err);
    }
    if (nservices == 0)
        conf_die(c, hs->line, "http_svcs lists no service");
    /* list is kept: names point into the conf, which lives for the process */
    free(list);
}

static struct service *route(const char *path)
{
    for (size_t i = 0; i < nservices; i++)
        if (regexec(&services[i].re, path, 0, NULL, 0) == 0)
            return &services[i];
    return NULL;
}

static int hop_by_hop(struct http_span name)
{
    return http_name_is(name, "connection") || http_name_is(name, "keep-alive") ||
           http_name_is(name, "proxy-connection") || http_name_is(name, "expect") ||
           http_name_is(name, "x-forwarded-for") || http_name_is(name, "upgrade") ||
           http_name_is(name, "te");
}

/* Append to a fixed buffer; 0 or -1 if it does not fit. */
static int put(char *buf, size_t cap, size_t *len, const void *p, size_t n)
{
    if (n > cap - *len)
        return -1;
    memcpy(buf + *len, p, n);
    *len += n;
    return 0;
}

/* Request head for the service; -1 if it would not fit. */
static int build_forward_head(const struct http_head *h, const char *client_ip, int closing,
                              char *out, size_t cap, size_t *len)
{
    *len = 0;
    if (put(out, cap, len, h->line.p, h->line.n) || put(out, cap, len, "\r\n", 2))
        return -1;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (hop_by_hop(h->headers[i].name))
            continue;
        if (put(out, cap, len, h->headers[i].line.p, h->headers[i].line.n) ||
            put(out, cap, len, "\r\n", 2))
            return -1;
    }
    char extra[128];
    int n = snprintf(extra, sizeof extra, "X-Forwarded-For: %s\r\n%s\r\n", client_ip,
                     closing ? "Connection: close\r\n" : "");
    return put(out, cap, len, extra, (size_t)n);
}

/* Response head for the client, hop-by-hop headers replaced. */
static int build_response_head(const struct http_head *h, int closing, char *out,
                               size_t cap, size_t *len)
{
    *len = 0;
    if (put(out, cap, len, h->line.p, h->line.n) || put(out, cap, len, "\r\n", 2))
        return -1;
    for (size_t i = 0; i < h->nheaders; i++) {
        struct http_span nm = h->headers[i].name;
        if (http_name_is(nm, "connection") || http_name_is(nm, "keep-alive") ||
            http_name_is(nm, "proxy-connection"))
            continue;
        if (put(out, cap, len, h->headers[i].line.p, h->headers[i].line.n) ||
            put(out, cap, len, "\r\n", 2))
            return -1;
    }
    if (closing && put(out, cap, len, "Connection: close\r\n", 19))
        return -1;
    return put(out, cap, len, "\r\n", 2);
}

/* Send the request body: what is already buffered, then the rest. */
static enum http_err send_body(struct conn *c, size_t head_len, uint64_t length, int bfd,
                               char *tmp)
{
    size_t have = c->len - head_len;
    size_t first = have < length ? have : (size_t)length;
    if (first && net_write_all(bfd, c->buf + head_len, first, 0) < 0)
        return HTTP_E_BAD_GATEWAY;
    conn_consume(c, head_len + first);
    uint64_t left = length - first;
    while (left > 0) {
        size_t want = left < RELAY_BUF ? (size_t)left : RELAY_BUF;
        ssize_t r = net_read(c->fd, tmp, want, now_ms() + limits.io_timeout_ms, &c->timeo_ms);
        if (r <= 0)
            return HTTP_CLOSED;
        if (net_write_all(bfd, tmp, (size_t)r, 0) < 0)
            return HTTP_E_BAD_GATEWAY;
        left -= (uint64_t)r;
    }
    return HTTP_OK;
}

/* Read the service's response head into rb. */
static enum http_err read_response_head(int bfd, char *rb, size_t cap, size_t *rlen,
                                        struct http_head *rh, int64_t deadline)
{
    size_t scanned = 0;
    for (;;) {
        if (*rlen) {
            size_t end = http_head_end(rb, *rlen, scanned);
            scanned = *rlen;
            if (end || *rlen == cap) {
                enum http_err e = http_parse_response(rb, *rlen, rh);
                return e == HTTP_INCOMPLETE ? HTTP_E_BAD_GATEWAY : e;
            }
        }
        ssize_t r = net_read(bfd, rb + *rlen, cap - *rlen, deadline, NULL);
        if (r < 0)
            return errno == ETIMEDOUT ? HTTP_E_GATEWAY_TIMEOUT : HTTP_E_BAD_GATEWAY;
        if (r == 0)
            return HTTP_E_BAD_GATEWAY;
        *rlen += (size_t)r;
    }
}

/* Relay the response body. Returns 1 if it ended exactly as framed (the
 * backend connection may be reused), 0 if it ended but the backend must be
 * closed, -1 if the client connection must be closed too. */
static int relay_body(int bfd, int cfd, const struct http_body *b, char *rb, size_t have,
                      size_t cap)
{
    if (b->kind == BODY_NONE)
        return have == 0;
    struct http_chunked ch = {0};
    uint64_t left = b->kind == BODY_LENGTH ? b->length : UINT64_MAX;
    size_t n = have;
    for (;;) {
        size_t take = n;
        int done = 0;
        if (b->kind == BODY_LENGTH) {
            take = n < left ? n : (size_t)left;
            left -= take;
            done = left == 0;
        } else if (b->kind == BODY_CHUNKED) {
            long r = http_chunked_feed(&ch, rb, n, &done);
            if (r < 0) {
                net_write_all(cfd, rb, n, 0);
                return -1;
            }
            take = (size_t)r;
        }
        if (take && net_write_all(cfd, rb, take, 0) < 0)
            return -1;
        if (done)
            return take == n;
        ssize_t r = net_read(bfd, rb, cap, now_ms() + limits.backend_timeout_ms, NULL);
        if (r == 0)
            return b->kind == BODY_UNTIL_CLOSE || b->kind == BODY_CHUNKED ? 0 : -1;
        if (r < 0)
            return -1;
        n = (size_t)r;
    }
}

/* Idle keep-alive connections to a service. */
static int pool_get(struct service *svc)
{
    {
        int fd = -1;
        pthread_mutex_lock(&svc->mu);
        if (svc->nidle)
            fd = svc->idle[--svc->nidle];
        pthread_mutex_unlock(&svc->mu);
        /* a connection the service closed meanwhile fails on first use and
         * the request is retried on a fresh one (GET and HEAD only) */
        return fd;
    }
}

static void pool_put(struct service *svc, int fd)
{
    pthread_mutex_lock(&svc->mu);
    if (svc->nidle < POOL_MAX) {
        svc->idle[svc->nidle++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&svc->mu);
    if (fd >= 0)
        close(fd);
}

/* What a parsed request asks for. */
struct plan {
    struct service *svc;
    struct http_body body;
    int keep;     /* client wants the connection kept */
    int is_head;
    int reusable; /* safe to send twice: may use a kept backend connection */
};

static enum http_err plan_request(const struct http_head *h, struct plan *p)
{
    char path[HTTP_MAX_REQUEST_LINE + 1];
    size_t plen;
    enum http_err e = http_decode_path(h->target.p, h->target.n, path, sizeof path, &plen);
    if (e != HTTP_OK)
        return e;
    p->svc = route(path);
    if (!p->svc)
        return HTTP_E_NOT_FOUND;
    e = http_request_body(h, limits.max_body, &p->body);
    if (e != HTTP_OK)
        return e;
    p->keep = http_keep_alive(h);
    p->is_head = h->method.n == 4 && memcmp(h->method.p, "HEAD", 4) == 0;
    int is_get = h->method.n == 3 && memcmp(h->method.p, "GET", 3) == 0;
    /* Only requests that are safe to send twice use kept-alive backend
     * connections, because a kept connection may turn out to be closed. */
    p->reusable = (is_get || p->is_head) && p->body.kind == BODY_NONE && h->minor == 1;
    return HTTP_OK;
}

/* The response head is in rh (and rb[0, rlen)): relay it and its body to
 * the client, blocking. Returns 1 to keep the client connection. */
static int finish_response(struct conn *c, const struct plan *p, int bfd, struct http_head *rh,
                           char *rb, size_t rlen)
{
    struct http_body rbody;
    enum http_err e = http_response_body(rh, p->is_head, &rbody);
    if (e != HTTP_OK || rh->status == 101) {
        close(bfd);
        conn_send_error(c->fd, HTTP_E_BAD_GATEWAY);
        return 0;
    }
    int keep = p->keep && rbody.kind != BODY_UNTIL_CLOSE;
    int backend_keep = p->reusable && rh->minor == 1 && rbody.kind != BODY_UNTIL_CLOSE &&
                       !http_has_token(rh, "connection", "close");
    char out[HTTP_MAX_HEAD + 64];
    size_t olen;
    if (build_response_head(rh, !keep, out, sizeof out, &olen) < 0) {
        close(bfd);
        conn_send_error(c->fd, HTTP_E_BAD_GATEWAY);
        return 0;
    }
    size_t have = rlen - rh->len;
    if (rbody.kind == BODY_NONE || (rbody.kind == BODY_LENGTH && have >= rbody.length)) {
        /* the whole response is here: one write, the usual case */
        size_t blen = rbody.kind == BODY_LENGTH ? (size_t)rbody.length : 0;
        int sent = net_write2(c->fd, out, olen, rb + rh->len, blen) == 0;
        if (sent && backend_keep && have == blen)
            pool_put(p->svc, bfd);
        else
            close(bfd);
        return keep && sent;
    }
    memmove(rb, rb + rh->len, have);
    int flags = (rbody.kind != BODY_NONE) ? MSG_MORE : 0;
    if (net_write_all(c->fd, out, olen, flags) < 0) {
        close(bfd);
        return 0;
    }
    int r = relay_body(bfd, c->fd, &rbody, rb, have, RELAY_BUF);
    if (r == 1 && backend_keep)
        pool_put(p->svc, bfd);
    else
        close(bfd);
    return keep && r >= 0;
}

/* One request, head already parsed, blocking. Returns 1 to keep the connection. */
static int handle_request(struct conn *c, struct http_head *h, const char *client_ip,
                          char *rb, struct http_head *rh)
{
    int bfd = -1;
    struct plan p;
    enum http_err e = plan_request(h, &p);
    if (e != HTTP_OK)
        goto fail;
    size_t rlen = 0;
    for (int attempt = 0;; attempt++) {
        int pooled = 0;
        if (p.reusable && attempt == 0)
            pooled = (bfd = pool_get(p.svc)) >= 0;
        if (bfd < 0) {
            bfd = net_connect(&p.svc->addr, p.svc->addrlen, limits.connect_timeout_ms);
            if (bfd < 0) {
                e = errno == ETIMEDOUT ? HTTP_E_GATEWAY_TIMEOUT : HTTP_E_BAD_GATEWAY;
                fprintf(stderr, "zookd2: %s unreachable: %s\n", p.svc->name, strerror(errno));
                goto fail;
            }
            net_set_send_timeout(bfd, limits.io_timeout_ms);
            net_set_recv_timeout(bfd, limits.backend_timeout_ms);
        }
        size_t flen;
        if (build_forward_head(h, client_ip, !p.reusable, rb, RELAY_BUF, &flen) < 0) {
            e = HTTP_E_HEADERS_TOO_LARGE;
            goto fail;
        }
        int more = p.body.kind == BODY_LENGTH ? MSG_MORE : 0;
        int sent = net_write_all(bfd, rb, flen, more) == 0;
        if (sent && p.body.kind == BODY_LENGTH) {
            if (http_has_token(h, "expect", "100-continue") && c->len - h->len < p.body.length)
                net_write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, 0);
            e = send_body(c, h->len, p.body.length, bfd, rb);
            if (e != HTTP_OK)
                goto fail;
            /* h pointed into c->buf, which send_body consumed: no more use. */
        }
        rlen = 0;
        int64_t deadline = now_ms() + limits.backend_timeout_ms;
        e = sent ? HTTP_OK : HTTP_E_BAD_GATEWAY;
        for (;;) {
            if (e == HTTP_OK)
                e = read_response_head(bfd, rb, RELAY_BUF, &rlen, rh, deadline);
            if (e != HTTP_OK || rh->status >= 200 || rh->status == 101)
                break;
            /* an interim 1xx: the client already got its 100 Continue from us */
            memmove(rb, rb + rh->len, rlen - rh->len);
            rlen -= rh->len;
        }
        if (e == HTTP_E_BAD_GATEWAY && pooled && rlen == 0) {
            close(bfd); /* the kept connection had been closed: once more, fresh */
            bfd = -1;
            continue;
        }
        if (e != HTTP_OK)
            goto fail;
        break;
    }
    if (p.body.kind != BODY_LENGTH)
        conn_consume(c, h->len);
    return finish_response(c, &p, bfd, rh, rb, rlen);

fail:
    if (bfd >= 0)
        close(bfd);
    if (e != HTTP_CLOSED)
        conn_send_error(c->fd, e);
    return 0;
}

/* ---- the event loop ----
 *
 * One worker thread per CPU runs an epoll loop over its client connections.
 * The common case, a GET or HEAD whose whole answer arrives at once on a
 * kept-alive service connection, is handled there without blocking. Every
 * other request (bodies, fresh service connections, long or streamed
 * answers, slow clients) is handed to a thread of its own running the
 * blocking code above; when it is done the connection returns to the loop.
 */
enum { ST_HEAD, ST_BACKEND, ST_THREAD, ST_DEAD };
enum { RESUME_REQUEST, RESUME_RELAY, RESUME_PENDING };

struct worker;

struct evc {
    struct conn c;
    char ip[64];
    struct http_head *h, *rh;
    char *rb;
    size_t rlen;
    struct plan plan;
    int bfd;
    int resume;
    char *pending; /* RESUME_PENDING: bytes still to write to the client */
    size_t npending;
    atomic_int state;
    int started; /* a byte of the current head has arrived */
    int64_t deadline;
    struct worker *w;
    struct evc *prev, *next;
};

struct worker {
    int ep;
    int lfd;
    struct evc list; /* sentinel of this worker's connections */
    char *out;
};

static atomic_int nclients;

static void evc_free(struct evc *cl)
{
    cl->prev->next = cl->next;
    cl->next->prev = cl->prev;
    conn_free(&cl->c);
    free(cl->h);
    free(cl->rh);
    free(cl->rb);
    free(cl->pending);
    free(cl);
    atomic_fetch_sub(&nclients, 1);
}

static void evc_close(struct evc *cl)
{
    if (cl->bfd >= 0)
        close(cl->bfd);
    cl->bfd = -1;
    if (cl->c.fd >= 0)
        close(cl->c.fd);
    cl->c.fd = -1;
    atomic_store(&cl->state, ST_DEAD);
}

static void evc_error(struct evc *cl, enum http_err e)
{
    if (e != HTTP_CLOSED) {
        char buf[512];
        size_t n = http_error_response(buf, sizeof buf, http_err_status(e));
        if (send(cl->c.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            /* the client is not reading: it gets no page */
        }
    }
    evc_close(cl);
}

static int watch(struct worker *w, int fd, void *tagged)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.ptr = tagged};
    return epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void *resume_thread(void *arg)
{
    struct evc *cl = arg;
    int keep;
    if (cl->resume == RESUME_RELAY) {
        keep = finish_response(&cl->c, &cl->plan, cl->bfd, cl->rh, cl->rb, cl->rlen);
        cl->bfd = -1;
    } else if (cl->resume == RESUME_PENDING) {
        keep = net_write_all(cl->c.fd, cl->pending, cl->npending, 0) == 0;
        free(cl->pending);
        cl->pending = NULL;
    } else {
        keep = handle_request(&cl->c, cl->h, cl->ip, cl->rb, cl->rh);
    }
    /* requests the client already sent are answered here, in order */
    while (keep && cl->c.len > 0) {
        enum http_err e = conn_read_head(&cl->c, cl->h, &limits);
        if (e != HTTP_OK) {
            if (e != HTTP_CLOSED)
                conn_send_error(cl->c.fd, e);
            keep = 0;
            break;
        }
        cl->c.nreq++;
        keep = handle_request(&cl->c, cl->h, cl->ip, cl->rb, cl->rh);
    }
    if (keep) {
        struct worker *w = cl->w;
        int fd = cl->c.fd;
        cl->started = 0;
        cl->deadline = now_ms() + limits.idle_timeout_ms;
        atomic_store(&cl->state, ST_HEAD);
        /* From a successful watch() on, the worker owns cl. If it fails the
         * worker never saw the descriptor, so cl is still ours to close. */
        if (watch(w, fd, cl) == 0)
            return NULL;
    }
    evc_close(cl); /* the worker frees it */
    return NULL;
}

static void handoff(struct evc *cl, int resume)
{
    epoll_ctl(cl->w->ep, EPOLL_CTL_DEL, cl->c.fd, NULL);
    if (cl->bfd >= 0 && resume == RESUME_REQUEST) {
        close(cl->bfd);
        cl->bfd = -1;
    }
    cl->resume = resume;
    atomic_store(&cl->state, ST_THREAD);
    if (spawn_detached(resume_thread, cl) < 0)
        evc_error(cl, HTTP_E_UNAVAILABLE);
}

static void on_client(struct worker *w, struct evc *cl);

/* A parsed request: send it on a kept service connection, or hand it off. */
static void start_request(struct worker *w, struct evc *cl)
{
    enum http_err e = plan_request(cl->h, &cl->plan);
    if (e != HTTP_OK) {
        evc_error(cl, e);
        return;
    }
    if (!cl->plan.reusable || http_find(cl->h, "expect")) {
        handoff(cl, RESUME_REQUEST);
        return;
    }
    int bfd = pool_get(cl->plan.svc);
    if (bfd < 0) {
        handoff(cl, RESUME_REQUEST);
        return;
    }
    size_t flen;
    if (build_forward_head(cl->h, cl->ip, 0, cl->rb, RELAY_BUF, &flen) < 0) {
        close(bfd);
        evc_error(cl, HTTP_E_HEADERS_TOO_LARGE);
        return;
    }
    ssize_t r = send(bfd, cl->rb, flen, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r != (ssize_t)flen) {
        close(bfd); /* a kept connection the service closed: a thread retries */
        handoff(cl, RESUME_REQUEST);
        return;
    }
    cl->bfd = bfd;
    cl->rlen = 0;
    cl->deadline = now_ms() + limits.backend_timeout_ms;
    atomic_store(&cl->state, ST_BACKEND);
    if (watch(w, bfd, (void *)((uintptr_t)cl | 1)) < 0)
        evc_error(cl, HTTP_E_INTERNAL);
}

/* Service data for a request in flight. */
static void on_backend(struct worker *w, struct evc *cl)
{
    int eof = 0;
    while (cl->rlen < RELAY_BUF) {
        ssize_t r = recv(cl->bfd, cl->rb + cl->rlen, RELAY_BUF - cl->rlen, MSG_DONTWAIT);
        if (r > 0) {
            cl->rlen += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        eof = 1;
        break;
    }
    if (eof && cl->rlen == 0) {
        handoff(cl, RESUME_REQUEST); /* the kept connection was closed: retry fresh */
        return;
    }
    for (;;) {
        size_t end = http_head_end(cl->rb, cl->rlen, 0);
        if (!end && cl->rlen < RELAY_BUF) {
            if (eof)
                evc_error(cl, HTTP_E_BAD_GATEWAY);
            return;
        }
        enum http_err e = http_parse_response(cl->rb, cl->rlen, cl->rh);
        if (e != HTTP_OK) {
            evc_error(cl, e == HTTP_INCOMPLETE ? HTTP_E_BAD_GATEWAY : e);
            return;
        }
        if (cl->rh->status >= 200 || cl->rh->status == 101)
            break;
        memmove(cl->rb, cl->rb + cl->rh->len, cl->rlen - cl->rh->len); /* interim 1xx */
        cl->rlen -= cl->rh->len;
    }
    epoll_ctl(w->ep, EPOLL_CTL_DEL, cl->bfd, NULL);
    conn_consume(&cl->c, cl->h->len); /* the request is done with */
    struct http_head *rh = cl->rh;
    struct http_body rbody;
    size_t have = cl->rlen - rh->len;
    size_t olen;
    int whole = http_response_body(rh, cl->plan.is_head, &rbody) == HTTP_OK &&
                (rbody.kind == BODY_NONE || (rbody.kind == BODY_LENGTH && have >= rbody.length));
    if (!whole || eof ||
        build_response_head(rh, !cl->plan.keep, w->out, HTTP_MAX_HEAD + 64, &olen) < 0) {
        handoff(cl, RESUME_RELAY); /* streamed, long or odd answers: blocking code */
        return;
    }
    size_t blen = rbody.kind == BODY_LENGTH ? (size_t)rbody.length : 0;
    int backend_keep = rh->minor == 1 && have == blen && !http_has_token(rh, "connection", "close");
    struct iovec iov[2] = {{w->out, olen}, {cl->rb + rh->len, blen}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t sent = sendmsg(cl->c.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (backend_keep)
        pool_put(cl->plan.svc, cl->bfd);
    else
        close(cl->bfd);
    cl->bfd = -1;
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        evc_close(cl);
        return;
    }
    size_t done = sent < 0 ? 0 : (size_t)sent;
    if (done < olen + blen) { /* the client reads slowly: a thread writes the rest */
        size_t n = olen + blen - done;
        cl->pending = malloc(n);
        if (!cl->pending) {
            evc_close(cl);
            return;
        }
        size_t from_out = done < olen ? olen - done : 0;
        memcpy(cl->pending, w->out + (olen - from_out), from_out);
        memcpy(cl->pending + from_out, cl->rb + rh->len + (blen - (n - from_out)), n - from_out);
        cl->npending = n;
        handoff(cl, RESUME_PENDING);
        return;
    }
    if (!cl->plan.keep) {
        evc_close(cl);
        return;
    }
    cl->started = 0;
    cl->deadline = now_ms() + limits.idle_timeout_ms;
    atomic_store(&cl->state, ST_HEAD);
    on_client(w, cl); /* a pipelined request may be waiting */
}

/* Client data: read what is there; start a request once its head is in. */
static void on_client(struct worker *w, struct evc *cl)
{
    int eof = 0;
    while (cl->c.len < cl->c.cap) {
        ssize_t r = recv(cl->c.fd, cl->c.buf + cl->c.len, cl->c.cap - cl->c.len, MSG_DONTWAIT);
        if (r > 0) {
            cl->c.len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        eof = 1;
        break;
    }
    if (cl->c.len > 0 && !cl->started) {
        cl->started = 1;
        cl->deadline = now_ms() + limits.head_timeout_ms;
    }
    enum http_err e = conn_check_head(&cl->c, cl->h);
    if (e == HTTP_INCOMPLETE) {
        if (eof)
            evc_close(cl);
        return;
    }
    if (e != HTTP_OK) {
        evc_error(cl, e);
        return;
    }
    cl->c.nreq++;
    start_request(w, cl);
}

static void on_accept(struct worker *w)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(w->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or out of descriptors: try again on the next event */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct evc *cl = NULL;
        if (atomic_fetch_add(&nclients, 1) >= limits.max_conns ||
            !(cl = calloc(1, sizeof *cl)) || conn_init(&cl->c, fd) < 0 ||
            !(cl->h = malloc(sizeof *cl->h)) || !(cl->rh = malloc(sizeof *cl->rh)) ||
            !(cl->rb = malloc(RELAY_BUF))) {
            conn_send_error(fd, HTTP_E_UNAVAILABLE);
            close(fd);
            if (cl) {
                free(cl->c.buf);
                free(cl->h);
                free(cl->rh);
                free(cl);
            }
            atomic_fetch_sub(&nclients, 1);
            continue;
        }
        net_set_send_timeout(fd, limits.io_timeout_ms);
        net_peer_ip(&ss, cl->ip, sizeof cl->ip);
        cl->bfd = -1;
        cl->w = w;
        cl->deadline = now_ms() + limits.head_timeout_ms;
        atomic_init(&cl->state, ST_HEAD);
        cl->next = w->list.next;
        cl->prev = &w->list;
        w->list.next->prev = cl;
        w->list.next = cl;
        if (watch(w, fd, cl) < 0)
            evc_close(cl);
    }
}

/* Free what died, and enforce the head, idle and service timeouts. */
static void sweep(struct worker *w)
{
    int64_t now = now_ms();
    for (struct evc *cl = w->list.next, *next; cl != &w->list; cl = next) {
        next = cl->next;
        int st = atomic_load(&cl->state);
        if (st == ST_DEAD) {
            evc_free(cl);
        } else if (st != ST_THREAD && now >= cl->deadline) {
            if (st == ST_BACKEND)
                evc_error(cl, HTTP_E_GATEWAY_TIMEOUT);
            else
                evc_error(cl, cl->started ? HTTP_E_TIMEOUT : HTTP_CLOSED);
            evc_free(cl);
        }
    }
}

static void *worker_loop(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[64];
    int64_t last_sweep = now_ms();
    for (;;) {
        int n = epoll_wait(w->ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            uintptr_t tag = (uintptr_t)evs[i].data.ptr;
            if (tag == 0) {
                on_accept(w);
                continue;
            }
            struct evc *cl = (struct evc *)(tag & ~(uintptr_t)1);
            int st = atomic_load(&cl->state);
            if ((tag & 1) && st == ST_BACKEND)
                on_backend(w, cl);
            else if (!(tag & 1) && st == ST_HEAD)
                on_client(w, cl);
            /* anything else is stale, or client data while its request is
             * in flight: read once the answer has been sent */
        }
        if (n == 0 || now_ms() - last_sweep >= 100) {
            sweep(w);
            last_sweep = now_ms();
        }
    }
    return NULL;
}

static void run_workers(int lfd)
{
    int flags = fcntl(lfd, F_GETFL);
    fcntl(lfd, F_SETFL, flags | O_NONBLOCK);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nworkers = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = calloc(1, sizeof *w);
        if (!w || !(w->out = malloc(HTTP_MAX_HEAD + 64)) ||
            (w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
            perror("zookd2: worker");
            exit(1);
        }
        w->lfd = lfd;
        w->list.next = w->list.prev = &w->list;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
            perror("zookd2: epoll");
            exit(1);
        }
        if (i == nworkers - 1)
            worker_loop(w);
        else if (spawn_detached(worker_loop, w) < 0) {
            perror("zookd2: worker thread");
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <zook.conf> <section>\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    limits_from_env(&limits);
    static struct conf conf;
    conf_load(argv[1], &conf);
    const struct conf_section *sec = conf_need_section(&conf, argv[2]);
    int port = conf_port(&conf, conf_need(&conf, sec, "port"));
    const struct conf_entry *host = conf_get(sec, "host");
    load_services(&conf, sec);
    char err[256];
    int lfd = net_listen(host ? host->value : NULL, port, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "zookd2: %s\n", err);
        return 1;
    }
    fprintf(stderr, "zookd2: [%s] listening on %s:%d, %zu services\n", sec->name,
            host ? host->value : "*", port, nservices);
    run_workers(lfd);
    return 0;
}
