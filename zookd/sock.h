/* Sockets and deadlines: shared by zookd2 and zookfs. */
#ifndef ZOOK_SOCK_H
#define ZOOK_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* Resolve host (numeric or name) and port; 0 or -1 with a message in err. */
int net_resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len,
                char *err, size_t errlen);
/* Listening TCP socket; -1 with a message in err. */
int net_listen(const char *host, int port, char *err, size_t errlen);
/* Connect with a timeout, from the address src (port 0; NULL: the kernel's
 * choice). fd, or -1 with errno (ETIMEDOUT when too slow). */
int net_connect(const struct sockaddr_storage *ss, socklen_t len,
                const struct sockaddr_storage *src, socklen_t srclen, int timeout_ms);
/* The address fd is bound to, with port 0, for net_connect's src: 0, or -1
 * when fd is bound to the wildcard address (no source to insist on). */
int net_bound_source(int fd, struct sockaddr_storage *out, socklen_t *len);
/* recv on a blocking socket; -1 with errno ETIMEDOUT once deadline passed.
 * With timeo_ms (the socket's current SO_RCVTIMEO, 0 if unset) the receive
 * timeout is kept close to the deadline; without, the socket's preset
 * timeout bounds each wait (set it with net_set_recv_timeout). */
ssize_t net_read(int fd, void *buf, size_t n, int64_t deadline, int *timeo_ms);
void net_set_recv_timeout(int fd, int ms);
/* send everything (MSG_NOSIGNAL); 0 or -1. flags may add MSG_MORE. */
int net_write_all(int fd, const void *buf, size_t n, int flags);
/* Read without blocking into buf[*len, cap) until the socket has nothing
 * more (or buf is full). Returns 1 if the peer closed or failed, 2 if buf
 * filled up (there may be more to read), else 0.
 * A short read ends it: with edge-triggered epoll, data arriving later is
 * a new event. */
int net_drain(int fd, char *buf, size_t *len, size_t cap);
/* Read and drop what has arrived, without blocking; *n grows by the bytes
 * dropped. 1 if the peer closed or failed or *n reached max, else 0. */
int net_discard(int fd, size_t *n, size_t max);
/* Send a then b, as one message when they fit; 0 or -1. */
int net_write2(int fd, const void *a, size_t an, const void *b, size_t bn);
/* Set send timeout so that a peer that stops reading cannot stall us. */
void net_set_send_timeout(int fd, int ms);
/* Text form of a peer address. */
void net_peer_ip(const struct sockaddr_storage *ss, char *out, size_t cap);

#endif
