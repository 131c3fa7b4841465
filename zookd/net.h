/* Sockets, deadlines and reading request heads: shared by zookd2 and zookfs. */
#ifndef ZOOK_NET_H
#define ZOOK_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "http.h"

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* Timeouts and limits, from the environment (see docs/zookd.md). */
struct limits {
    int head_timeout_ms;    /* ZOOK_HEAD_TIMEOUT_MS: whole request head */
    int idle_timeout_ms;    /* ZOOK_IDLE_TIMEOUT_MS: between keep-alive requests */
    int io_timeout_ms;      /* ZOOK_IO_TIMEOUT_MS: any single read/write of a body */
    int backend_timeout_ms; /* ZOOK_BACKEND_TIMEOUT_MS: backend answer / CGI run */
    int connect_timeout_ms; /* ZOOK_CONNECT_TIMEOUT_MS */
    uint64_t max_body;      /* ZOOK_MAX_BODY: request body bytes */
    int max_conns;          /* ZOOK_MAX_CONNS: open client connections */
};
void limits_from_env(struct limits *l);

/* Resolve host (numeric or name) and port; 0 or -1 with a message in err. */
int net_resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len,
                char *err, size_t errlen);
/* Listening TCP socket; -1 with a message in err. */
int net_listen(const char *host, int port, char *err, size_t errlen);
/* Connect with a timeout. fd, or -1 with errno (ETIMEDOUT when too slow). */
int net_connect(const struct sockaddr_storage *ss, socklen_t len, int timeout_ms);
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
/* Send a then b, as one message when they fit; 0 or -1. */
int net_write2(int fd, const void *a, size_t an, const void *b, size_t bn);
/* Set send timeout so that a peer that stops reading cannot stall us. */
void net_set_send_timeout(int fd, int ms);
/* Text form of a peer address. */
void net_peer_ip(const struct sockaddr_storage *ss, char *out, size_t cap);

/* A client connection with its input buffer (which may hold pipelined
 * bytes past the current request). */
struct conn {
    int fd;
    char *buf;
    size_t cap, len;
    int nreq; /* requests served so far */
    size_t scanned;   /* bytes of the current head already searched */
    int checked_line; /* request line length already checked */
    int timeo_ms; /* current SO_RCVTIMEO */
};
/* Allocate the buffer (HTTP_MAX_HEAD + slack). -1 on no memory. */
int conn_init(struct conn *c, int fd);
void conn_free(struct conn *c);
/* Read until a complete request head is parsed into h. HTTP_CLOSED: peer
 * closed or idle timeout before any byte (close silently); other errors are
 * to be answered with their status. */
enum http_err conn_read_head(struct conn *c, struct http_head *h, const struct limits *l);
/* Is a complete head (or a limit error) in the buffer? HTTP_INCOMPLETE if
 * neither; otherwise the head's parse result. Cheap to call after every read. */
enum http_err conn_check_head(struct conn *c, struct http_head *h);
/* Drop the first n bytes of the buffer (a finished request). */
void conn_consume(struct conn *c, size_t n);
/* Answer with an error page (Connection: close). */
void conn_send_error(int fd, enum http_err e);

/* The start every server shares: check "<prog> <zook.conf> <section>",
 * ignore SIGPIPE, read limits and the conf (exit 2 on any problem), and
 * return the section. */
struct conf;
struct conf_section;
const struct conf_section *service_start(int argc, char **argv, struct conf *conf,
                                         struct limits *l);
/* Listen on the section's host (all addresses if none) and port, or exit 1. */
int service_listen(const struct conf *conf, const struct conf_section *sec, const char *what);
/* Start a detached thread with a modest stack; 0 or -1. */
int spawn_detached(void *(*fn)(void *), void *arg);

#endif
