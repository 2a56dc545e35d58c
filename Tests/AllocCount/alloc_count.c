// See alloc_count.h. Defined in the test executable, these interpose on every library's
// calls (Swift's runtime allocates through malloc). The counter is thread-local with the
// initial-exec model: reading it never allocates (dynamic TLS would, inside malloc).
#include "alloc_count.h"
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static __thread long count __attribute__((tls_model("initial-exec")));
static __thread int on __attribute__((tls_model("initial-exec")));

void *malloc(size_t n) {
    if (on) count++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (on) count++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (on) count++;
    return __libc_realloc(p, n);
}
void rl_alloc_count_start(void) {
    count = 0;
    on = 1;
}
long rl_alloc_count_stop(void) {
    on = 0;
    return count;
}
