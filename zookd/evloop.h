/* The event loop shared by zookd2 and zookfs.
 *
 * One worker thread per CPU runs epoll over its client connections: reads
 * request heads without blocking and hands each complete head to the
 * server's request() callback. The callback either answers at once
 * (ev_reply), waits for another descriptor (ev_wait, then aux()), or
 * hands the connection to a thread of its own (ev_handoff) that runs the
 * server's blocking code; when that thread is done the connection returns
 * to the loop. Head, idle and aux timeouts are enforced by the loop, and so
 * is the lingering close after every answer that ends a connection (error
 * pages included): the write side is shut down, then input is read and
 * dropped (ZOOK_LINGER_MS, LINGER_MAX_BYTES) so that the client reads the
 * answer instead of a reset. The client's EOF
 * ends a partial head at once. Connections take their place in the
 * connection table (conntab.h).
 */
#ifndef ZOOK_EVLOOP_H
#define ZOOK_EVLOOP_H

#include <stdatomic.h>

#include "conn.h"
#include "conntab.h"
#include "service.h"
#include "sock.h"

enum { EV_HEAD, EV_AUX, EV_THREAD, EV_LINGER, EV_DEAD };
#define LINGER_MAX_BYTES (8 * 1024 * 1024)
/* resume codes of ev_handoff; servers may use their own from 1 up */
#define EV_RESUME_REQUEST 0  /* run ops->blocking on the current head */
#define EV_RESUME_PENDING -1 /* internal: finish writing a reply */

struct ev_worker;
struct ev_conn;

/* A descriptor the server talks to (a service connection), registered
 * once in a worker's epoll and kept there while it is reused. */
struct ev_aux {
    int fd;
    struct ev_conn *owner; /* the connection waiting on it; NULL when idle */
    void *key;             /* the server's: what it leads to */
    int dead;
    struct ev_aux *next;   /* the worker's idle or dead list */
};

struct ev_conn {
    struct conn c;
    struct tab_entry tab;
    char ip[64];
    struct http_head *h; /* the current request head (points into c.buf) */
    atomic_int state;
    int started;         /* a byte of the current head has arrived */
    int64_t deadline;
    int64_t idle_since;  /* the last answer went out (EV_HEAD, not started) */
    struct ev_aux *aux;  /* EV_AUX: waited on */
    enum http_err aux_timeout;
    int resume;
    char *pending;       /* EV_RESUME_PENDING: reply bytes the client has not taken */
    size_t npending;
    int pending_keep;
    int again;           /* ev_reply finished a request: look for the next */
    int readable;        /* client data arrived while an aux wait was on */
    int eof;             /* the client will send no more (it shut down or failed) */
    size_t lingered;     /* EV_LINGER: bytes dropped */
    struct ev_worker *w;
    struct ev_conn *prev, *next;
};

struct ev_ops {
    size_t size;                            /* the server's connection struct, ev_conn first */
    int (*init)(struct ev_conn *cl);        /* allocate extras; 0 or -1 */
    void (*fini)(struct ev_conn *cl);
    void (*request)(struct ev_conn *cl);    /* worker: a head is in cl->h; must not block */
    void (*aux)(struct ev_conn *cl);        /* worker: cl->aux is readable; must not block */
    int (*resume)(struct ev_conn *cl);      /* thread: continue as cl->resume says; 1 keeps */
    int (*blocking)(struct ev_conn *cl);    /* thread: answer the head in cl->h; 1 keeps */
};

/* Serve lfd forever with one worker per CPU. */
void ev_run(int lfd, const struct ev_ops *ops, const struct limits *l)
    __attribute__((noreturn));
/* Continue this connection in a thread. */
void ev_handoff(struct ev_conn *cl, int resume);
/* Answer with an error page (if the client takes it at once) and close,
 * lingering (HTTP_CLOSED: close without an answer). */
void ev_error(struct ev_conn *cl, enum http_err e);
void ev_close(struct ev_conn *cl);
/* An idle aux of this worker for key, or NULL. */
struct ev_aux *ev_aux_take(struct ev_conn *cl, void *key);
/* Register fd with cl's worker; NULL on failure (fd is then still the caller's). */
struct ev_aux *ev_aux_adopt(struct ev_conn *cl, int fd, void *key);
/* Wait until a is readable (then ops->aux), at most timeout_ms (then answer
 * on_timeout). If the connection dies meanwhile the loop closes a. */
void ev_wait(struct ev_conn *cl, struct ev_aux *a, int timeout_ms, enum http_err on_timeout);
/* Done with cl->aux, which may be reused: back to the worker's idle list. */
void ev_aux_keep(struct ev_conn *cl);
/* Done with cl->aux for the loop: its descriptor is the caller's again. */
int ev_aux_release(struct ev_conn *cl);
/* Send a reply (a then b) and go on with the next request, or close. The
 * request must already be consumed from cl->c. */
void ev_reply(struct ev_conn *cl, const void *a, size_t an, const void *b, size_t bn, int keep);

#endif
