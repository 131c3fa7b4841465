/* Sockets, deadlines and request heads: see net.h. */
#define _GNU_SOURCE
#include "net.h"

#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < min || x > max) {
        fprintf(stderr, "ignoring %s=%s (want %ld..%ld)\n", name, v, min, max);
        return def;
    }
    return x;
}

void limits_from_env(struct limits *l)
{
    l->head_timeout_ms = (int)env_long("ZOOK_HEAD_TIMEOUT_MS", 10000, 10, 3600000);
    l->idle_timeout_ms = (int)env_long("ZOOK_IDLE_TIMEOUT_MS", 30000, 10, 3600000);
    l->io_timeout_ms = (int)env_long("ZOOK_IO_TIMEOUT_MS", 30000, 10, 3600000);
    l->backend_timeout_ms = (int)env_long("ZOOK_BACKEND_TIMEOUT_MS", 30000, 10, 3600000);
    l->connect_timeout_ms = (int)env_long("ZOOK_CONNECT_TIMEOUT_MS", 5000, 10, 3600000);
    l->max_body = (uint64_t)env_long("ZOOK_MAX_BODY", HTTP_DEFAULT_MAX_BODY, 0,
                                     (long)1 << 40);
    l->max_conns = (int)env_long("ZOOK_MAX_CONNS", 1024, 1, 1000000);
}

int net_resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len,
                char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = host ? 0 : AI_PASSIVE;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve %s: %s", host ? host : "*", gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int net_listen(const char *host, int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (net_resolve(host, port, &ss, &len, err, errlen) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host ? host : "*", port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int net_connect(const struct sockaddr_storage *ss, socklen_t len, int timeout_ms)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)ss, len) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        struct pollfd p = {fd, POLLOUT, 0};
        int r;
        do
            r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r == 0) {
            errno = ETIMEDOUT;
            goto fail;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            goto fail;
        if (soerr) {
            errno = soerr;
            goto fail;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static void set_recv_timeout(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void net_set_recv_timeout(int fd, int ms)
{
    set_recv_timeout(fd, ms);
}

ssize_t net_read(int fd, void *buf, size_t n, int64_t deadline, int *timeo_ms)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        /* One blocking recv is the fast path; the socket's receive timeout
         * is only adjusted when it is far from what is left. */
        if (timeo_ms && (*timeo_ms > left + left / 4 + 10 || *timeo_ms < left / 2)) {
            *timeo_ms = left > 3600000 ? 3600000 : (int)left;
            set_recv_timeout(fd, *timeo_ms);
        }
        ssize_t r = recv(fd, buf, n, 0);
        if (r >= 0)
            return r;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

int net_write_all(int fd, const void *buf, size_t n, int flags)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL | flags);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int net_drain(int fd, char *buf, size_t *len, size_t cap)
{
    while (*len < cap) {
        size_t want = cap - *len;
        ssize_t r = recv(fd, buf + *len, want, MSG_DONTWAIT);
        if (r > 0) {
            *len += (size_t)r;
            if ((size_t)r < want)
                return 0; /* a short read took all there was; more data means a new event */
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return 1;
    }
    return 2;
}

int net_write2(int fd, const void *a, size_t an, const void *b, size_t bn)
{
    struct iovec iov[2] = {{(void *)a, an}, {(void *)b, bn}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    while (iov[0].iov_len + iov[1].iov_len > 0) {
        ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        size_t done = (size_t)r;
        for (int i = 0; i < 2; i++) {
            size_t take = done < iov[i].iov_len ? done : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            done -= take;
        }
        if (iov[0].iov_len == 0) {
            msg.msg_iov = &iov[1];
            msg.msg_iovlen = 1;
        }
    }
    return 0;
}

void net_set_send_timeout(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void net_peer_ip(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    if (!inet_ntop(ss->ss_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "unknown");
}

int conn_init(struct conn *c, int fd)
{
    c->fd = fd;
    c->cap = HTTP_MAX_HEAD + 16;
    c->len = 0;
    c->nreq = 0;
    c->timeo_ms = 0;
    c->scanned = 0;
    c->checked_line = 0;
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
    if (c->len == 0)
        return HTTP_INCOMPLETE;
    size_t end = http_head_end(c->buf, c->len, c->scanned);
    c->scanned = c->len;
    int line_over = !c->checked_line && c->len >= HTTP_MAX_REQUEST_LINE + 2;
    if (!end && !line_over && c->len < HTTP_MAX_HEAD + 4)
        return HTTP_INCOMPLETE;
    c->checked_line |= line_over;
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
            return HTTP_CLOSED;
        if (r < 0)
            return (errno == ETIMEDOUT && started) ? HTTP_E_TIMEOUT : HTTP_CLOSED;
        if (!started) {
            started = 1;
            deadline = now_ms() + l->head_timeout_ms;
        }
        c->len += (size_t)r;
    }
}

void conn_send_error(int fd, enum http_err e)
{
    char buf[512];
    size_t n = http_error_response(buf, sizeof buf, http_err_status(e));
    net_write_all(fd, buf, n, 0);
}

int spawn_detached(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

const struct conf_section *service_start(int argc, char **argv, struct conf *conf,
                                         struct limits *l)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <zook.conf> <section>\n", argv[0]);
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    /* two descriptors per client (client and service) and a few per CGI
     * run: take the hard limit, not the 1024 of a login shell */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    limits_from_env(l);
    conf_load(argv[1], conf);
    return conf_need_section(conf, argv[2]);
}

int service_listen(const struct conf *conf, const struct conf_section *sec, const char *what)
{
    int port = conf_port(conf, conf_need(conf, sec, "port"));
    const struct conf_entry *host = conf_get(sec, "host");
    char err[256];
    int lfd = net_listen(host ? host->value : NULL, port, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "%s: %s\n", what, err);
        exit(1);
    }
    fprintf(stderr, "%s: [%s] listening on %s:%d\n", what, sec->name,
            host ? host->value : "*", port);
    return lfd;
}
