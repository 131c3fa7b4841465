/* The table of open client connections, shared by all event-loop workers:
 * a global limit, a limit per client address, and the idle keep-alive
 * connections in the order they became idle, so that the oldest can be
 * closed to make room before anyone is refused.
 *
 * Policy (docs/zookd.md): a new connection from an address that already
 * holds max_per_addr connections closes that address's longest-idle
 * keep-alive connection, else it is refused; a new connection when the
 * table holds max_total closes the longest-idle keep-alive connection of
 * anyone, else it is refused. Only connections that have finished at least
 * one request and are waiting for the next count as idle.
 */
#ifndef ZOOK_CONNTAB_H
#define ZOOK_CONNTAB_H

#include <stdatomic.h>
#include <sys/socket.h>

struct tab_addr;

/* One connection's place in the table (embedded in the connection). */
struct tab_entry {
    struct tab_entry *prev, *next;   /* all idle connections, oldest first */
    struct tab_entry *aprev, *anext; /* its address's idle connections */
    struct tab_addr *addr;
    int fd;
    int counted;     /* holds a place (until it leaves or is evicted) */
    long long since; /* idle since (ms): the lists are kept in this order */
    atomic_int idle; /* on the idle lists */
};

/* max_per_addr 0: no limit per address. */
void tab_init(int max_total, int max_per_addr);
/* Take a place for a new connection fd from ss, closing an idle one if
 * needed (its descriptor is shut down; its owner then sees it close).
 * 0, or -1: refused. */
int tab_admit(struct tab_entry *e, const struct sockaddr_storage *ss, int fd);
/* It finished a request at `since` (ms) and waits for the next: it may be
 * closed to make room. */
void tab_idle(struct tab_entry *e, long long since);
/* A request began: no longer idle. Cheap when it was not idle. */
void tab_busy(struct tab_entry *e);
/* Give the place back; call before closing its descriptor. Idempotent. */
void tab_leave(struct tab_entry *e);

#endif
