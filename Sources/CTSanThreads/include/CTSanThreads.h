#ifndef CTSANTHREADS_H
#define CTSANTHREADS_H

/*
 * Under ThreadSanitizer only (make test-tsan): librdkafka uses C11 threads (thrd_create,
 * thrd_join, mtx_*, cnd_*, call_once), which glibc implements without going through the pthread
 * functions TSan intercepts, so TSan never sees those threads start (its allocator crashes on
 * them) nor librdkafka's locks (it would report races on what they protect). This target
 * defines those functions in the test executable as their pthread counterparts, which TSan
 * intercepts; librdkafka's calls bind to them. In any other build it defines nothing.
 */
int ctsanthreads_active(void);

#endif
