#include "CTSanThreads.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CTSANTHREADS_ENABLED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CTSANTHREADS_ENABLED 1
#endif

#ifdef CTSANTHREADS_ENABLED
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct ctsanthreads_start {
        thrd_start_t function;
        void *argument;
};

static void *ctsanthreads_trampoline(void *pointer) {
        struct ctsanthreads_start start = *(struct ctsanthreads_start *)pointer;
        free(pointer);
        /* As glibc's own C11 threads do: the int result travels as the pthread result, which
         * thrd_join turns back into an int. */
        return (void *)(intptr_t)start.function(start.argument);
}

int thrd_create(thrd_t *thread, thrd_start_t function, void *argument) {
        struct ctsanthreads_start *start = malloc(sizeof *start);
        if (start == NULL)
                return thrd_nomem;
        start->function = function;
        start->argument = argument;
        int error = pthread_create((pthread_t *)thread, NULL, ctsanthreads_trampoline, start);
        if (error != 0) {
                free(start);
                return error == ENOMEM ? thrd_nomem : thrd_error;
        }
        return thrd_success;
}

int ctsanthreads_active(void) { return 1; }
#else
int ctsanthreads_active(void) { return 0; }
#endif
