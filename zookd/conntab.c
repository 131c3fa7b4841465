/* The connection table: see conntab.h. One mutex guards it all; the hot
 * path (a request arriving on a connection that was not idle) does not
 * take it. */
#define _GNU_SOURCE
#include "conntab.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_BUCKETS 4096

struct tab_addr {
    struct tab_addr *next; /* bucket chain */
    unsigned char key[17]; /* family, then the address */
    int count;
    struct tab_entry *head, *tail; /* idle, oldest first */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tab_addr *buckets[ADDR_BUCKETS];
static struct tab_entry *idle_head, *idle_tail;
static int total, max_total, max_per_addr;

void tab_init(int total_limit, int per_addr_limit)
{
    max_total = total_limit;
    max_per_addr = per_addr_limit;
}

static void addr_key(const struct sockaddr_storage *ss, unsigned char key[17])
{
    memset(key, 0, 17);
    key[0] = (unsigned char)ss->ss_family;
    if (ss->ss_family == AF_INET6)
        memcpy(key + 1, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    else if (ss->ss_family == AF_INET)
        memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
}

static struct tab_addr **addr_slot(const unsigned char key[17])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    struct tab_addr **p = &buckets[h % ADDR_BUCKETS];
    while (*p && memcmp((*p)->key, key, 17) != 0)
        p = &(*p)->next;
    return p;
}

static void unlink_idle(struct tab_entry *e)
{
    struct tab_addr *a = e->addr;
    *(e->prev ? &e->prev->next : &idle_head) = e->next;
    *(e->next ? &e->next->prev : &idle_tail) = e->prev;
    *(e->aprev ? &e->aprev->anext : &a->head) = e->anext;
    *(e->anext ? &e->anext->aprev : &a->tail) = e->aprev;
    e->prev = e->next = e->aprev = e->anext = NULL;
    atomic_store(&e->idle, 0);
}

/* Give e's place back (lock held). */
static void release(struct tab_entry *e)
{
    if (atomic_load(&e->idle))
        unlink_idle(e);
    if (!e->counted)
        return;
    e->counted = 0;
    total--;
    struct tab_addr *a = e->addr;
    e->addr = NULL;
    if (--a->count == 0) {
        struct tab_addr **p = addr_slot(a->key);
        *p = a->next;
        free(a);
    }
}

static void evict(struct tab_entry *victim)
{
    /* its owner still holds the descriptor open: it is valid until the
     * owner's tab_leave, which waits for this lock */
    shutdown(victim->fd, SHUT_RDWR);
    release(victim);
}

int tab_admit(struct tab_entry *e, const struct sockaddr_storage *ss, int fd)
{
    unsigned char key[17];
    addr_key(ss, key);
    memset(e, 0, sizeof *e);
    e->fd = fd;
    int ok = 0;
    pthread_mutex_lock(&mu);
    struct tab_addr **slot = addr_slot(key), *a = *slot;
    if (max_per_addr && a && a->count >= max_per_addr) {
        if (!a->head)
            goto out;
        struct tab_entry *victim = a->head;
        int last = a->count == 1;
        evict(victim);
        if (last) /* the address's node went with it */
            slot = addr_slot(key), a = *slot;
    }
    if (total >= max_total) {
        if (!idle_head)
            goto out;
        evict(idle_head);
        slot = addr_slot(key), a = *slot;
    }
    if (!a) {
        a = calloc(1, sizeof *a);
        if (!a)
            goto out;
        memcpy(a->key, key, 17);
        *slot = a;
    }
    a->count++;
    total++;
    e->addr = a;
    e->counted = 1;
    ok = 1;
out:
    pthread_mutex_unlock(&mu);
    return ok ? 0 : -1;
}

void tab_idle(struct tab_entry *e, long long since)
{
    pthread_mutex_lock(&mu);
    if (e->counted && !atomic_load(&e->idle)) {
        struct tab_addr *a = e->addr;
        e->since = since;
        /* Entries arrive nearly in order (each worker notes its idle
         * connections every 100 ms, oldest first): the walk is short. */
        struct tab_entry *p = idle_tail;
        while (p && p->since > since)
            p = p->prev;
        e->prev = p;
        e->next = p ? p->next : idle_head;
        *(e->next ? &e->next->prev : &idle_tail) = e;
        *(p ? &p->next : &idle_head) = e;
        p = a->tail;
        while (p && p->since > since)
            p = p->aprev;
        e->aprev = p;
        e->anext = p ? p->anext : a->head;
        *(e->anext ? &e->anext->aprev : &a->tail) = e;
        *(p ? &p->anext : &a->head) = e;
        atomic_store(&e->idle, 1);
    }
    pthread_mutex_unlock(&mu);
}

void tab_busy(struct tab_entry *e)
{
    if (!atomic_load(&e->idle))
        return;
    pthread_mutex_lock(&mu);
    if (atomic_load(&e->idle))
        unlink_idle(e);
    pthread_mutex_unlock(&mu);
}

void tab_leave(struct tab_entry *e)
{
    pthread_mutex_lock(&mu);
    release(e);
    pthread_mutex_unlock(&mu);
}
