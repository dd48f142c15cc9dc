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

static int ctsanthreads_result(int error) {
        switch (error) {
        case 0: return thrd_success;
        case ETIMEDOUT: return thrd_timedout;
        case EBUSY: return thrd_busy;
        case ENOMEM: return thrd_nomem;
        default: return thrd_error;
        }
}

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
        if (error != 0)
                free(start);
        return ctsanthreads_result(error);
}

int thrd_join(thrd_t thread, int *result) {
        void *value = NULL;
        int error = pthread_join((pthread_t)thread, &value);
        if (error == 0 && result != NULL)
                *result = (int)(intptr_t)value;
        return ctsanthreads_result(error);
}

int thrd_detach(thrd_t thread) { return ctsanthreads_result(pthread_detach((pthread_t)thread)); }

/* glibc's mtx_t, cnd_t and once_flag have the layout of their pthread counterparts. */
int mtx_init(mtx_t *mutex, int type) {
        pthread_mutexattr_t attributes;
        pthread_mutexattr_init(&attributes);
        if (type & mtx_recursive)
                pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
        int error = pthread_mutex_init((pthread_mutex_t *)mutex, &attributes);
        pthread_mutexattr_destroy(&attributes);
        return ctsanthreads_result(error);
}

int mtx_lock(mtx_t *mutex) { return ctsanthreads_result(pthread_mutex_lock((pthread_mutex_t *)mutex)); }

int mtx_trylock(mtx_t *mutex) { return ctsanthreads_result(pthread_mutex_trylock((pthread_mutex_t *)mutex)); }

int mtx_timedlock(mtx_t *restrict mutex, const struct timespec *restrict deadline) {
        return ctsanthreads_result(pthread_mutex_timedlock((pthread_mutex_t *)mutex, deadline));
}

int mtx_unlock(mtx_t *mutex) { return ctsanthreads_result(pthread_mutex_unlock((pthread_mutex_t *)mutex)); }

void mtx_destroy(mtx_t *mutex) { pthread_mutex_destroy((pthread_mutex_t *)mutex); }

int cnd_init(cnd_t *condition) { return ctsanthreads_result(pthread_cond_init((pthread_cond_t *)condition, NULL)); }

int cnd_signal(cnd_t *condition) { return ctsanthreads_result(pthread_cond_signal((pthread_cond_t *)condition)); }

int cnd_broadcast(cnd_t *condition) { return ctsanthreads_result(pthread_cond_broadcast((pthread_cond_t *)condition)); }

int cnd_wait(cnd_t *condition, mtx_t *mutex) {
        return ctsanthreads_result(pthread_cond_wait((pthread_cond_t *)condition, (pthread_mutex_t *)mutex));
}

int cnd_timedwait(cnd_t *restrict condition, mtx_t *restrict mutex, const struct timespec *restrict deadline) {
        return ctsanthreads_result(
            pthread_cond_timedwait((pthread_cond_t *)condition, (pthread_mutex_t *)mutex, deadline));
}

void cnd_destroy(cnd_t *condition) { pthread_cond_destroy((pthread_cond_t *)condition); }

void call_once(once_flag *flag, void (*function)(void)) { pthread_once((pthread_once_t *)flag, function); }

int ctsanthreads_active(void) { return 1; }
#else
int ctsanthreads_active(void) { return 0; }
#endif
