/* zookd2 <zook.conf> <section>: the dispatcher.
 *
 * For each request: decode and normalise the path (escapes are 400), match
 * it against the `url` regex of each http_svcs service in order (anchored
 * as ^(url)$; first match wins, none is 404), forward the request head as
 * received minus hop-by-hop headers (Connection, Keep-Alive,
 * Proxy-Connection, Upgrade, TE, Expect) and minus any X-Forwarded-For,
 * plus "X-Forwarded-For: <client address>", then the body; relay the answer
 * with the same hop-by-hop headers removed.
 *
 * Connections: keep-alive with clients (pipelining too). GET and HEAD
 * without a body go to the service on a kept-alive connection from a pool
 * (retried once on a fresh connection if the kept one turns out closed);
 * everything else gets a fresh connection with "Connection: close". An
 * answer framed by Content-Length is relayed exactly and the client
 * connection stays open; a chunked one is relayed to its last chunk; one
 * delimited only by close is relayed with "Connection: close" and ends the
 * client connection. Errors: 400 malformed, 404 no route, 411 chunked
 * request body, 413/414/431 limits, 502 service unreachable or bad answer,
 * 504 service too slow, 505 version.
 *
 * Concurrency: the event loop (evloop.c) handles the common case without
 * blocking; the blocking code below, in a thread per request, the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "evloop.h"
#include "http.h"

#define POOL_MAX 256
/* zook.conf's max_conns_per_client when the section has none */
#define DEFAULT_CONNS_PER_CLIENT 256

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
/* Connections to the services leave from the address zookd2 listens on, as
 * the RPC clients' do from their section's host: the services' firewall
 * rules (in containers, and in local mode on loopback, where the kernel
 * would otherwise pick 127.0.0.1) know main by that address. */
static struct sockaddr_storage source;
static socklen_t sourcelen;
static int have_source;

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

/* conn_read_body's sink: the request body goes on to the service. */
static enum http_err to_service(void *arg, const char *p, size_t n)
{
    return net_write_all(*(int *)arg, p, n, 0) < 0 ? HTTP_E_BAD_GATEWAY : HTTP_OK;
}

/* Pipes for splice(2), kept for reuse while empty. */
#define PIPES_KEPT 64
#define PIPE_BYTES (1024 * 1024)
static pthread_mutex_t pipes_mu = PTHREAD_MUTEX_INITIALIZER;
static int pipes[PIPES_KEPT][2];
static int npipes;

static int pipe_get(int p[2])
{
    pthread_mutex_lock(&pipes_mu);
    int have = npipes > 0;
    if (have) {
        npipes--;
        p[0] = pipes[npipes][0];
        p[1] = pipes[npipes][1];
    }
    pthread_mutex_unlock(&pipes_mu);
    if (have)
        return 0;
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES); /* fewer, bigger moves; the default 64 KiB also works */
    return 0;
}

/* Back to the pool if it is empty, else closed. */
static void pipe_put(int p[2], int empty)
{
    pthread_mutex_lock(&pipes_mu);
    if (empty && npipes < PIPES_KEPT) {
        pipes[npipes][0] = p[0];
        pipes[npipes][1] = p[1];
        npipes++;
        empty = -1;
    }
    pthread_mutex_unlock(&pipes_mu);
    if (empty != -1) {
        close(p[0]);
        close(p[1]);
    }
}

#define SPLICE_UNAVAILABLE 2

/* Move `left` body bytes (or, until_close, all until the service closes)
 * from bfd to cfd in the kernel: socket -> pipe -> socket, no copy through
 * user space. The sockets' timeouts bound each wait. Returns as
 * relay_body does, or SPLICE_UNAVAILABLE (no pipe: copy instead). */
static int splice_body(int bfd, int cfd, uint64_t left, int until_close)
{
    int p[2];
    if (pipe_get(p) < 0)
        return SPLICE_UNAVAILABLE;
    int result = 1;
    size_t inpipe = 0;
    while (left > 0) {
        size_t want = left < PIPE_BYTES ? (size_t)left : PIPE_BYTES;
        ssize_t n = splice(bfd, NULL, p[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            result = n == 0 && until_close ? 0 : -1;
            break;
        }
        if (!until_close)
            left -= (uint64_t)n;
        inpipe = (size_t)n;
        while (inpipe > 0) {
            ssize_t m = splice(p[0], NULL, cfd, NULL, inpipe,
                               SPLICE_F_MOVE | (left ? SPLICE_F_MORE : 0));
            if (m < 0 && errno == EINTR)
                continue;
            if (m <= 0)
                break;
            inpipe -= (size_t)m;
        }
        if (inpipe > 0) {
            result = -1;
            break;
        }
    }
    pipe_put(p, inpipe == 0);
    return result;
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
        if (b->kind != BODY_CHUNKED) { /* the rest need not be looked at */
            int s = splice_body(bfd, cfd, left, b->kind == BODY_UNTIL_CLOSE);
            if (s != SPLICE_UNAVAILABLE)
                return s;
        }
        ssize_t r = net_read(bfd, rb, cap, now_ms() + limits.backend_timeout_ms, NULL);
        if (r == 0)
            return b->kind == BODY_UNTIL_CLOSE || b->kind == BODY_CHUNKED ? 0 : -1;
        if (r < 0)
            return -1;
        n = (size_t)r;
    }
}

/* Idle keep-alive connections to a service. A connection the service
 * closed meanwhile fails on first use and the request is retried on a
 * fresh one (GET and HEAD only). */
static int pool_get(struct service *svc)
{
    int fd = -1;
    pthread_mutex_lock(&svc->mu);
    if (svc->nidle)
        fd = svc->idle[--svc->nidle];
    pthread_mutex_unlock(&svc->mu);
    return fd;
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

/* What the client gets for the service's answer: decided in one place for
 * the event loop and the threads. */
struct answer {
    struct http_body body;
    int keep;         /* the client connection stays open */
    int backend_keep; /* the service connection may be reused if its answer
                       * ends exactly at its framing */
    size_t olen;      /* the client's response head, in out */
    size_t have;      /* body bytes already in rb (after the head) */
    int whole;        /* ...which are the whole body: one write */
    size_t blen;      /* whole: the body's length */
};

#define OUT_CAP (HTTP_MAX_HEAD + 1024) /* also the forward head: CRLFs, our headers */

/* rb[0, *rlen) is what the service has sent so far. Complete interim 1xx
 * answers are dropped (the client got its 100 Continue from us); a 101 is
 * refused (Upgrade is never forwarded, so there is no protocol switch).
 * HTTP_INCOMPLETE: no final head yet; HTTP_OK: the final head is in rh and
 * a and out say what to send; else the error to answer. */
static enum http_err decide_answer(const struct plan *p, char *rb, size_t *rlen,
                                   struct http_head *rh, char *out, struct answer *a)
{
    for (;;) {
        if (!http_head_end(rb, *rlen, 0) && *rlen < RELAY_BUF)
            return HTTP_INCOMPLETE;
        enum http_err e = http_parse_response(rb, *rlen, rh);
        if (e != HTTP_OK)
            return e == HTTP_INCOMPLETE ? HTTP_E_BAD_GATEWAY : e;
        if (rh->status == 101)
            return HTTP_E_BAD_GATEWAY;
        if (rh->status >= 200)
            break;
        memmove(rb, rb + rh->len, *rlen - rh->len);
        *rlen -= rh->len;
    }
    if (http_response_body(rh, p->is_head, &a->body) != HTTP_OK)
        return HTTP_E_BAD_GATEWAY;
    a->keep = p->keep && a->body.kind != BODY_UNTIL_CLOSE;
    a->backend_keep = p->reusable && rh->minor == 1 && a->body.kind != BODY_UNTIL_CLOSE &&
                      !http_has_token(rh, "connection", "close");
    a->have = *rlen - rh->len;
    a->whole = a->body.kind == BODY_NONE ||
               (a->body.kind == BODY_LENGTH && a->have >= a->body.length);
    a->blen = a->whole && a->body.kind == BODY_LENGTH ? (size_t)a->body.length : 0;
    if (a->whole && a->have != a->blen)
        a->backend_keep = 0; /* more than the framing: the stream is off */
    if (build_response_head(rh, !a->keep, out, OUT_CAP, &a->olen) < 0)
        return HTTP_E_BAD_GATEWAY;
    return HTTP_OK;
}

/* ---- the connection (evloop.h): a GET or HEAD whose whole answer
 * arrives at once on a kept-alive service connection is handled by the
 * loop without blocking; every other request (bodies, fresh service
 * connections, long or streamed answers, slow clients) runs the blocking
 * code in a thread of its own. ---- */

#define RESUME_RELAY 1

struct d2conn {
    struct ev_conn ev;
    struct http_head *rh;
    char *rb;
    size_t rlen;
    struct plan plan;
    struct answer ans;
    char *out; /* the client's response head */
    int bfd;   /* RESUME_RELAY: the service connection, handed to the thread */
};

/* thread: the answer is decided (d->ans, d->out, head in d->rh, rb):
 * send it and relay its body. Returns 1 to keep the client connection. */
static int relay_answer(struct d2conn *d, int bfd)
{
    int cfd = d->ev.c.fd;
    const struct answer *a = &d->ans;
    if (a->whole) {
        int sent = net_write2(cfd, d->out, a->olen, d->rb + d->rh->len, a->blen) == 0;
        if (sent && a->backend_keep)
            pool_put(d->plan.svc, bfd);
        else
            close(bfd);
        return a->keep && sent;
    }
    memmove(d->rb, d->rb + d->rh->len, a->have);
    if (net_write_all(cfd, d->out, a->olen, MSG_MORE) < 0) {
        close(bfd);
        return 0;
    }
    int r = relay_body(bfd, cfd, &a->body, d->rb, a->have, RELAY_BUF);
    if (r == 1 && a->backend_keep)
        pool_put(d->plan.svc, bfd);
    else
        close(bfd);
    return a->keep && r >= 0;
}

/* thread: read the service's answer until it is decided */
static enum http_err read_answer(struct d2conn *d, int bfd)
{
    int64_t deadline = now_ms() + limits.backend_timeout_ms;
    for (;;) {
        enum http_err e = decide_answer(&d->plan, d->rb, &d->rlen, d->rh, d->out, &d->ans);
        if (e != HTTP_INCOMPLETE)
            return e;
        ssize_t r = net_read(bfd, d->rb + d->rlen, RELAY_BUF - d->rlen, deadline, NULL);
        if (r < 0)
            return errno == ETIMEDOUT ? HTTP_E_GATEWAY_TIMEOUT : HTTP_E_BAD_GATEWAY;
        if (r == 0)
            return HTTP_E_BAD_GATEWAY;
        d->rlen += (size_t)r;
    }
}

/* Request bodies are read whole before the service is contacted, so that a
 * slow client never holds one of the service's workers (gunicorn's sync
 * workers, a CGI run), while all bodies being read take at most this much
 * memory; beyond it they are streamed to the service as they arrive. */
#define BODY_BUFFER_BUDGET (64LL * 1024 * 1024)
static atomic_llong buffered_bytes;

static int body_reserve(uint64_t n)
{
    if (atomic_fetch_add(&buffered_bytes, (long long)n) + (long long)n <= BODY_BUFFER_BUDGET)
        return 1;
    atomic_fetch_sub(&buffered_bytes, (long long)n);
    return 0;
}

/* thread: one request, head already parsed, blocking. 1 keeps the connection. */
static int handle_request(struct d2conn *d)
{
    struct conn *c = &d->ev.c;
    struct http_head *h = d->ev.h;
    struct plan *p = &d->plan;
    int bfd = -1, keep = 0;
    struct body_buf body = {NULL, 0};
    uint64_t reserved = 0;
    enum http_err e = plan_request(h, p);
    if (e != HTTP_OK)
        goto fail;
    /* the forward head first (reading the body consumes the client's); d->out
     * holds it until the client's response head is built there */
    size_t flen;
    if (build_forward_head(h, d->ev.ip, !p->reusable, d->out, OUT_CAP, &flen) < 0) {
        e = HTTP_E_HEADERS_TOO_LARGE;
        goto fail;
    }
    int has_body = p->body.kind == BODY_LENGTH;
    if (has_body && http_has_token(h, "expect", "100-continue") &&
        c->len - h->len < p->body.length)
        net_write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, 0);
    if (has_body && body_reserve(p->body.length)) {
        reserved = p->body.length;
        body.p = malloc((size_t)p->body.length);
        e = body.p ? conn_read_body(c, h->len, p->body.length, &limits, body_to_memory, &body)
                   : HTTP_E_INTERNAL;
        if (e != HTTP_OK)
            goto fail;
    } else if (!has_body) {
        conn_consume(c, h->len);
    }
    /* h pointed into c->buf, which is consumed (or will be, streaming): no more use */
    for (int attempt = 0;; attempt++) {
        int pooled = 0;
        if (p->reusable && attempt == 0)
            pooled = (bfd = pool_get(p->svc)) >= 0;
        if (bfd < 0) {
            bfd = net_connect(&p->svc->addr, p->svc->addrlen, have_source ? &source : NULL,
                              sourcelen, limits.connect_timeout_ms);
            if (bfd < 0) {
                e = errno == ETIMEDOUT ? HTTP_E_GATEWAY_TIMEOUT : HTTP_E_BAD_GATEWAY;
                fprintf(stderr, "zookd2: %s unreachable: %s\n", p->svc->name, strerror(errno));
                goto fail;
            }
            net_set_send_timeout(bfd, limits.io_timeout_ms);
            net_set_recv_timeout(bfd, limits.backend_timeout_ms);
        }
        int sent = net_write_all(bfd, d->out, flen, has_body ? MSG_MORE : 0) == 0;
        if (sent && body.p) {
            sent = net_write_all(bfd, body.p, body.n, 0) == 0;
        } else if (sent && has_body) { /* over the budget: streamed */
            e = conn_read_body(c, h->len, p->body.length, &limits, to_service, &bfd);
            if (e != HTTP_OK)
                goto fail;
        }
        d->rlen = 0;
        e = sent ? read_answer(d, bfd) : HTTP_E_BAD_GATEWAY;
        if (e == HTTP_E_BAD_GATEWAY && pooled && d->rlen == 0) {
            close(bfd); /* the kept connection had been closed: once more, fresh */
            bfd = -1;
            continue;
        }
        if (e != HTTP_OK)
            goto fail;
        break;
    }
    keep = relay_answer(d, bfd);
    bfd = -1;
fail:
    if (bfd >= 0)
        close(bfd);
    if (e != HTTP_OK && e != HTTP_CLOSED)
        conn_send_error(c, e);
    free(body.p);
    atomic_fetch_sub(&buffered_bytes, (long long)reserved);
    return keep;
}

static int d2_init(struct ev_conn *cl)
{
    struct d2conn *d = (struct d2conn *)cl;
    d->rh = malloc(sizeof *d->rh);
    d->rb = malloc(RELAY_BUF);
    d->out = malloc(OUT_CAP);
    d->bfd = -1;
    return d->rh && d->rb && d->out ? 0 : -1;
}

static void d2_fini(struct ev_conn *cl)
{
    struct d2conn *d = (struct d2conn *)cl;
    free(d->rh);
    free(d->rb);
    free(d->out);
    if (d->bfd >= 0)
        close(d->bfd); /* the thread never started */
}

/* worker: a parsed request; send it on a kept service connection or hand it off */
static void d2_request(struct ev_conn *cl)
{
    struct d2conn *d = (struct d2conn *)cl;
    enum http_err e = plan_request(cl->h, &d->plan);
    if (e != HTTP_OK) {
        ev_error(cl, e);
        return;
    }
    if (!d->plan.reusable || http_find(cl->h, "expect")) {
        ev_handoff(cl, EV_RESUME_REQUEST);
        return;
    }
    /* this worker's own kept connection, else one from the threads' pool */
    struct ev_aux *a = ev_aux_take(cl, d->plan.svc);
    if (!a) {
        int bfd = pool_get(d->plan.svc);
        if (bfd < 0) {
            ev_handoff(cl, EV_RESUME_REQUEST); /* a thread connects afresh */
            return;
        }
        if (!(a = ev_aux_adopt(cl, bfd, d->plan.svc))) {
            close(bfd);
            ev_handoff(cl, EV_RESUME_REQUEST);
            return;
        }
    }
    ev_wait(cl, a, limits.backend_timeout_ms, HTTP_E_GATEWAY_TIMEOUT);
    size_t flen;
    if (build_forward_head(cl->h, cl->ip, 0, d->rb, RELAY_BUF, &flen) < 0) {
        ev_error(cl, HTTP_E_HEADERS_TOO_LARGE);
        return;
    }
    d->rlen = 0;
    if (send(a->fd, d->rb, flen, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)flen) {
        close(ev_aux_release(cl)); /* a kept connection the service closed: a thread retries */
        ev_handoff(cl, EV_RESUME_REQUEST);
    }
}

/* worker: the service's answer is arriving */
static void d2_aux(struct ev_conn *cl)
{
    struct d2conn *d = (struct d2conn *)cl;
    int eof = net_drain(cl->aux->fd, d->rb, &d->rlen, RELAY_BUF) == 1;
    if (eof && d->rlen == 0) {
        close(ev_aux_release(cl)); /* the kept connection had been closed: retry fresh */
        ev_handoff(cl, EV_RESUME_REQUEST);
        return;
    }
    enum http_err e = decide_answer(&d->plan, d->rb, &d->rlen, d->rh, d->out, &d->ans);
    if (e == HTTP_INCOMPLETE && !eof)
        return; /* wait for more */
    if (e != HTTP_OK) {
        ev_error(cl, e == HTTP_INCOMPLETE ? HTTP_E_BAD_GATEWAY : e);
        return;
    }
    conn_consume(&cl->c, cl->h->len); /* the request is done with */
    struct answer *a = &d->ans;
    if (eof)
        a->backend_keep = 0;
    if (!a->whole) {
        d->bfd = ev_aux_release(cl); /* streamed or long answers: the blocking code */
        ev_handoff(cl, RESUME_RELAY);
        return;
    }
    if (a->backend_keep)
        ev_aux_keep(cl);
    else
        close(ev_aux_release(cl));
    ev_reply(cl, d->out, a->olen, d->rb + d->rh->len, a->blen, a->keep);
}

/* thread: relay an answer the loop started reading */
static int d2_resume(struct ev_conn *cl)
{
    struct d2conn *d = (struct d2conn *)cl;
    int bfd = d->bfd;
    d->bfd = -1;
    return relay_answer(d, bfd);
}

/* thread: a whole request, blocking */
static int d2_blocking(struct ev_conn *cl)
{
    return handle_request((struct d2conn *)cl);
}

static const struct ev_ops d2_ops = {
    .size = sizeof(struct d2conn),
    .init = d2_init,
    .fini = d2_fini,
    .request = d2_request,
    .aux = d2_aux,
    .resume = d2_resume,
    .blocking = d2_blocking,
};

int main(int argc, char **argv)
{
    static struct conf conf;
    const struct conf_section *sec = service_start(argc, argv, &conf, &limits);
    limits.max_conns_per_client = conf_int(&conf, sec, "max_conns_per_client",
                                           DEFAULT_CONNS_PER_CLIENT, 1, 1000000);
    load_services(&conf, sec);
    int lfd = service_listen(&conf, sec, "zookd2");
    have_source = net_bound_source(lfd, &source, &sourcelen) == 0;
    fprintf(stderr, "zookd2: routing to %zu services\n", nservices);
    ev_run(lfd, &d2_ops, &limits);
}
