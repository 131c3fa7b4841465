/* Sockets and deadlines: see sock.h. */
#define _GNU_SOURCE
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

int net_bound_source(int fd, struct sockaddr_storage *out, socklen_t *len)
{
    *len = sizeof *out;
    memset(out, 0, sizeof *out);
    if (getsockname(fd, (struct sockaddr *)out, len) < 0)
        return -1;
    if (out->ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_port = 0;
        return in->sin_addr.s_addr == htonl(INADDR_ANY) ? -1 : 0;
    }
    if (out->ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_port = 0;
        return IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ? -1 : 0;
    }
    return -1;
}

int net_connect(const struct sockaddr_storage *ss, socklen_t len,
                const struct sockaddr_storage *src, socklen_t srclen, int timeout_ms)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (src && src->ss_family == ss->ss_family) {
        /* the port is picked at connect (per destination), not at bind */
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)src, srclen) < 0)
            goto fail;
    }
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

int net_discard(int fd, size_t *n, size_t max)
{
    static __thread char sink[16384];
    while (*n < max) {
        ssize_t r = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (r > 0) {
            *n += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
    }
    return 1;
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

