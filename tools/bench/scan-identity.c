/* A small static musl program for tools/bench/scan-identity.ts: threads (musl's __clone sets
 * the number with a partial-register write), fork, a raw syscall() and some stdio. */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *work(void *arg) {
  printf("thread %ld\n", (long)syscall(SYS_gettid));
  return arg;
}

int main(void) {
  pthread_t t;
  if (pthread_create(&t, 0, work, 0) == 0) pthread_join(t, 0);
  pid_t p = fork();
  if (p == 0) _exit(0);
  if (p > 0) waitpid(p, 0, 0);
  return 0;
}
