/* The event loop: see evloop.h. */
#define _GNU_SOURCE
#include "evloop.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

struct ev_worker {
    int ep;
    int lfd;
    struct ev_conn list;  /* sentinel of this worker's connections */
    struct ev_aux *idle;  /* kept auxes nobody waits on */
    size_t nidle;
    struct ev_aux *dead;  /* freed after the current batch of events */
};

#define MAX_IDLE_AUX 256
#define AUX_KEPT ((uintptr_t)2)

static const struct ev_ops *ops;
static const struct limits *lim;

static void conn_drop(struct ev_conn *cl)
{
    cl->prev->next = cl->next;
    cl->next->prev = cl->prev;
    if (ops->fini)
        ops->fini(cl);
    tab_leave(&cl->tab);
    conn_free(&cl->c);
    free(cl->h);
    free(cl->pending);
    free(cl);
}

static void aux_bury(struct ev_worker *w, struct ev_aux *a)
{
    a->dead = 1;
    a->owner = NULL;
    a->next = w->dead;
    w->dead = a;
}

void ev_close(struct ev_conn *cl)
{
    if (cl->aux) {
        close(cl->aux->fd);
        aux_bury(cl->w, cl->aux);
        cl->aux = NULL;
    }
    if (cl->c.fd >= 0) {
        tab_leave(&cl->tab); /* before the descriptor can be reused */
        close(cl->c.fd);
    }
    cl->c.fd = -1;
    atomic_store(&cl->state, EV_DEAD); /* the worker frees it */
}

/* worker: read and drop input until the client closes, the byte bound or
 * the linger deadline (sweep) */
static void on_linger(struct ev_conn *cl)
{
    if (net_discard(cl->c.fd, &cl->lingered, LINGER_MAX_BYTES))
        ev_close(cl);
}

/* The last answer is out: shut down the write side and set the linger
 * deadline (even after the client's EOF: there may be input not read yet).
 * -1 if there is nothing to linger for. */
static int linger_begin(struct ev_conn *cl)
{
    if (lim->linger_ms == 0 || shutdown(cl->c.fd, SHUT_WR) < 0)
        return -1;
    cl->lingered = 0;
    cl->deadline = now_ms() + lim->linger_ms;
    return 0;
}

/* worker, cl's descriptor registered: the answer is out; let the client
 * read it before the connection goes */
static void linger(struct ev_conn *cl)
{
    if (cl->aux) {
        close(cl->aux->fd);
        aux_bury(cl->w, cl->aux);
        cl->aux = NULL;
    }
    if (linger_begin(cl) < 0) {
        ev_close(cl);
        return;
    }
    atomic_store(&cl->state, EV_LINGER);
    on_linger(cl);
}

void ev_error(struct ev_conn *cl, enum http_err e)
{
    if (e == HTTP_CLOSED) {
        ev_close(cl);
        return;
    }
    char buf[512];
    size_t n = http_error_response(buf, sizeof buf, http_err_status(e));
    if (send(cl->c.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* a client that does not read gets no page */
    }
    linger(cl);
}

static int watch(struct ev_worker *w, int fd, void *tagged)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.ptr = tagged};
    return epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
}

struct ev_aux *ev_aux_take(struct ev_conn *cl, void *key)
{
    struct ev_worker *w = cl->w;
    for (struct ev_aux **p = &w->idle; *p; p = &(*p)->next) {
        if ((*p)->key == key) {
            struct ev_aux *a = *p;
            *p = a->next;
            w->nidle--;
            return a;
        }
    }
    return NULL;
}

struct ev_aux *ev_aux_adopt(struct ev_conn *cl, int fd, void *key)
{
    struct ev_aux *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->fd = fd;
    a->key = key;
    if (watch(cl->w, fd, (void *)((uintptr_t)a | AUX_KEPT)) < 0) {
        free(a);
        return NULL;
    }
    return a;
}

void ev_wait(struct ev_conn *cl, struct ev_aux *a, int timeout_ms, enum http_err on_timeout)
{
    a->owner = cl;
    cl->aux = a;
    cl->aux_timeout = on_timeout;
    cl->deadline = now_ms() + timeout_ms;
    atomic_store(&cl->state, EV_AUX);
}

void ev_aux_keep(struct ev_conn *cl)
{
    struct ev_worker *w = cl->w;
    struct ev_aux *a = cl->aux;
    cl->aux = NULL;
    a->owner = NULL;
    if (w->nidle >= MAX_IDLE_AUX) {
        close(a->fd);
        aux_bury(w, a);
        return;
    }
    a->next = w->idle;
    w->idle = a;
    w->nidle++;
}

int ev_aux_release(struct ev_conn *cl)
{
    struct ev_aux *a = cl->aux;
    int fd = a->fd;
    cl->aux = NULL;
    epoll_ctl(cl->w->ep, EPOLL_CTL_DEL, fd, NULL);
    aux_bury(cl->w, a);
    return fd;
}

/* An idle kept descriptor spoke: its peer closed it (or sent what nobody
 * asked for). Either way it is of no more use. */
static void aux_idle_event(struct ev_worker *w, struct ev_aux *a)
{
    for (struct ev_aux **p = &w->idle; *p; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            w->nidle--;
            close(a->fd);
            aux_bury(w, a);
            return;
        }
    }
}

static void *resume_thread(void *arg)
{
    struct ev_conn *cl = arg;
    int keep;
    if (cl->resume == EV_RESUME_PENDING) {
        keep = net_write_all(cl->c.fd, cl->pending, cl->npending, 0) == 0 && cl->pending_keep;
        free(cl->pending);
        cl->pending = NULL;
    } else if (cl->resume == EV_RESUME_REQUEST) {
        keep = ops->blocking(cl);
    } else {
        keep = ops->resume(cl);
    }
    /* requests the client already sent are answered here, in order */
    while (keep && cl->c.len > 0) {
        enum http_err e = conn_read_head(&cl->c, cl->h, lim);
        if (e != HTTP_OK) {
            if (e != HTTP_CLOSED)
                conn_send_error(&cl->c, e);
            keep = 0;
            break;
        }
        cl->c.nreq++;
        keep = ops->blocking(cl);
    }
    int state = EV_HEAD;
    if (keep) {
        cl->started = 0;
        cl->idle_since = now_ms();
        cl->deadline = cl->idle_since + lim->idle_timeout_ms;
    } else if (linger_begin(cl) == 0) {
        /* the loop lingers: the client reads the last answer (an error page,
         * or one that ends the connection), not a reset caused by input it
         * sent that nobody read */
        state = EV_LINGER;
    } else {
        ev_close(cl);
        return NULL;
    }
    struct ev_worker *w = cl->w;
    int fd = cl->c.fd;
    atomic_store(&cl->state, state);
    /* From a successful watch() on, the worker owns cl. If it fails the
     * worker never saw the descriptor, so cl is still ours to close. */
    if (watch(w, fd, cl) == 0)
        return NULL;
    ev_close(cl);
    return NULL;
}

void ev_handoff(struct ev_conn *cl, int resume)
{
    epoll_ctl(cl->w->ep, EPOLL_CTL_DEL, cl->c.fd, NULL);
    cl->resume = resume;
    atomic_store(&cl->state, EV_THREAD);
    if (spawn_detached(resume_thread, cl) < 0) {
        atomic_store(&cl->state, EV_HEAD);
        if (watch(cl->w, cl->c.fd, cl) < 0)
            ev_close(cl);
        else
            ev_error(cl, HTTP_E_UNAVAILABLE);
    }
}

static void on_client(struct ev_conn *cl, int readable);

void ev_reply(struct ev_conn *cl, const void *a, size_t an, const void *b, size_t bn, int keep)
{
    struct iovec iov[2] = {{(void *)a, an}, {(void *)b, bn}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t sent = sendmsg(cl->c.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        ev_close(cl);
        return;
    }
    size_t done = sent < 0 ? 0 : (size_t)sent;
    if (done < an + bn) { /* the client reads slowly: a thread writes the rest */
        size_t n = an + bn - done;
        cl->pending = malloc(n);
        if (!cl->pending) {
            ev_close(cl);
            return;
        }
        size_t from_a = done < an ? an - done : 0;
        memcpy(cl->pending, (const char *)a + (an - from_a), from_a);
        memcpy(cl->pending + from_a, (const char *)b + (bn - (n - from_a)), n - from_a);
        cl->npending = n;
        cl->pending_keep = keep;
        ev_handoff(cl, EV_RESUME_PENDING);
        return;
    }
    if (!keep) {
        linger(cl);
        return;
    }
    cl->started = 0;
    cl->idle_since = now_ms();
    cl->deadline = cl->idle_since + lim->idle_timeout_ms;
    atomic_store(&cl->state, EV_HEAD);
    cl->again = 1; /* the caller looks for a pipelined request (a loop, not recursion) */
}

/* Client data: read what is there (if an event said so); hand over
 * complete heads while the server answers them at once. Data that arrives
 * meanwhile is a new event, so after an answer only the buffer is looked at. */
static void on_client(struct ev_conn *cl, int readable)
{
    for (;;) {
        int r = readable || cl->readable ? net_drain(cl->c.fd, cl->c.buf, &cl->c.len, cl->c.cap)
                                         : 0;
        /* the peer closed (or shut down its side: epoll said so and all
         * there was has been read) */
        int eof = r == 1 || (cl->eof && r != 2);
        cl->eof |= r == 1;
        readable = 0;
        cl->readable = r == 2; /* stopped by a full buffer: read on after the next answer */
        if (cl->c.len > 0 && !cl->started) {
            cl->started = 1;
            cl->deadline = now_ms() + lim->head_timeout_ms;
            tab_busy(&cl->tab);
        }
        enum http_err e = conn_check_head(&cl->c, cl->h);
        if (e == HTTP_INCOMPLETE) {
            if (eof) /* no more bytes can come: the partial head (if any) ends here */
                ev_close(cl);
            return;
        }
        if (e != HTTP_OK) {
            ev_error(cl, e);
            return;
        }
        cl->c.nreq++;
        cl->again = 0;
        ops->request(cl);
        if (!cl->again)
            return; /* waiting, handed off or closed */
    }
}

/* A connection there is no room for: answer 503 and close, reading first
 * what has arrived so that the close does not reset the answer away. */
static void refuse(int fd)
{
    char buf[512];
    size_t n = http_error_response(buf, sizeof buf, http_err_status(HTTP_E_UNAVAILABLE));
    if (send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* nothing to do */
    }
    shutdown(fd, SHUT_WR);
    size_t dropped = 0;
    net_discard(fd, &dropped, 65536);
    close(fd);
}

static void on_accept(struct ev_worker *w)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(w->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                usleep(10000); /* out of descriptors or memory: do not spin on it */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct ev_conn *cl = NULL;
        int inited = 0;
        /* admission last: nothing can fail after it */
        if (!(cl = calloc(1, ops->size)) || conn_init(&cl->c, fd) < 0 ||
            !(cl->h = malloc(sizeof *cl->h)) ||
            (ops->init && (inited = 1) && ops->init(cl) < 0) ||
            tab_admit(&cl->tab, &ss, fd) < 0) {
            refuse(fd);
            if (cl) {
                if (inited && ops->fini)
                    ops->fini(cl);
                free(cl->c.buf);
                free(cl->h);
                free(cl);
            }
            continue;
        }
        net_set_send_timeout(fd, lim->io_timeout_ms);
        net_peer_ip(&ss, cl->ip, sizeof cl->ip);
        cl->w = w;
        cl->deadline = now_ms() + lim->head_timeout_ms;
        atomic_init(&cl->state, EV_HEAD);
        cl->next = w->list.next;
        cl->prev = &w->list;
        w->list.next->prev = cl;
        w->list.next = cl;
        if (watch(w, fd, cl) < 0)
            ev_close(cl);
    }
}

/* Free what died; enforce head, idle and aux timeouts. */
static void sweep(struct ev_worker *w)
{
    int64_t now = now_ms();
    /* oldest first, so that idle connections reach the table in order */
    for (struct ev_conn *cl = w->list.prev, *prev; cl != &w->list; cl = prev) {
        prev = cl->prev;
        int st = atomic_load(&cl->state);
        if (st != EV_DEAD && st != EV_THREAD && now >= cl->deadline) {
            if (st == EV_LINGER)
                ev_close(cl);
            else if (st == EV_AUX)
                ev_error(cl, cl->aux_timeout);
            else
                ev_error(cl, cl->started ? HTTP_E_TIMEOUT : HTTP_CLOSED);
            st = atomic_load(&cl->state);
        }
        if (st == EV_DEAD)
            conn_drop(cl);
        else if (st == EV_HEAD && !cl->started && cl->c.nreq > 0 && !atomic_load(&cl->tab.idle))
            tab_idle(&cl->tab, cl->idle_since); /* waiting for its next request: may make room */
    }
}

static void *worker_loop(void *arg)
{
    struct ev_worker *w = arg;
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
            if (tag & AUX_KEPT) {
                struct ev_aux *a = (struct ev_aux *)(tag & ~AUX_KEPT);
                struct ev_conn *owner = a->owner;
                if (a->dead) {
                    continue; /* stale */
                } else if (!owner) {
                    aux_idle_event(w, a);
                } else if (atomic_load(&owner->state) == EV_AUX && owner->aux == a) {
                    owner->again = 0;
                    ops->aux(owner);
                    if (owner->again)
                        on_client(owner, owner->readable);
                }
                continue;
            }
            struct ev_conn *cl = (struct ev_conn *)tag;
            int st = atomic_load(&cl->state);
            if (st == EV_HEAD || st == EV_AUX)
                cl->eof |= (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
            if (st == EV_HEAD)
                on_client(cl, 1);
            else if (st == EV_AUX)
                cl->readable = 1; /* read once the reply has gone out */
            else if (st == EV_LINGER)
                on_linger(cl);
            /* anything else is stale */
        }
        while (w->dead) { /* no event of this batch can point to them any more */
            struct ev_aux *a = w->dead;
            w->dead = a->next;
            free(a);
        }
        if (n == 0 || now_ms() - last_sweep >= 100) {
            sweep(w);
            last_sweep = now_ms();
        }
    }
    return NULL;
}

void ev_run(int lfd, const struct ev_ops *o, const struct limits *l)
{
    ops = o;
    lim = l;
    tab_init(l->max_conns, l->max_conns_per_client);
    int flags = fcntl(lfd, F_GETFL);
    fcntl(lfd, F_SETFL, flags | O_NONBLOCK);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nworkers = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    for (int i = 0;; i++) {
        struct ev_worker *w = calloc(1, sizeof *w);
        if (!w || (w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
            perror("event loop");
            exit(1);
        }
        w->lfd = lfd;
        w->list.next = w->list.prev = &w->list;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
            perror("event loop: epoll");
            exit(1);
        }
        if (i == nworkers - 1) {
            worker_loop(w);
            exit(1);
        }
        if (spawn_detached(worker_loop, w) < 0) {
            perror("event loop: thread");
            exit(1);
        }
    }
}
