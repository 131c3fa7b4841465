/* A tiny test harness: TEST(name) functions registered in a table, CHECK()
 * reports file:line and keeps going, main() returns non-zero on failure. */
#ifndef ZOOK_CHECK_H
#define ZOOK_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                              \
    do {                                                                         \
        check_count++;                                                           \
        if (!(cond)) {                                                           \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    __func__, #cond);                                            \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b) CHECK((long long)(a) == (long long)(b))
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)
#define CHECK_SPAN(span, s) CHECK((span).n == strlen(s) && memcmp((span).p, (s), (span).n) == 0)

typedef void (*check_fn)(void);
struct check_case {
    const char *name;
    check_fn fn;
};

static int check_run(const struct check_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int before = check_failures;
        cases[i].fn();
        printf("%s %s\n", check_failures == before ? "ok  " : "FAIL", cases[i].name);
    }
    printf("%zu tests, %d checks, %d failures\n", n, check_count, check_failures);
    return check_failures != 0;
}

#define CASE(f) {#f, f}
#endif
