#ifndef CTSANTHREADS_H
#define CTSANTHREADS_H

/*
 * Under ThreadSanitizer only (make test-tsan): librdkafka starts its threads with C11
 * thrd_create, which glibc implements without going through pthread_create, so TSan never sees
 * those threads start and crashes in its allocator on them. This target defines thrd_create in
 * the test executable as a pthread_create that TSan intercepts; librdkafka's calls bind to it.
 * In any other build it defines nothing.
 */
int ctsanthreads_active(void);

#endif
