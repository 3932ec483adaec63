/* Compiled twice at image-build time (gcc -static and musl-gcc -static): a static
 * program that starts a thread, so the libc's clone wrapper (musl sets the number
 * with `mov $56,%al`) is on the path --version takes. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *worker(void *arg) {
  const char *msg = arg;
  (void)!write(1, msg, strlen(msg));
  return NULL;
}

int main(int argc, char **argv) {
  const char *msg = "fnhunt-static 1.0: a thread wrote this\n";
  if (argc > 1 && strcmp(argv[1], "--help") == 0)
    msg = "usage: fnhunt-static [--version|--help] (prints from a second thread)\n";
  pthread_t t;
  if (pthread_create(&t, NULL, worker, (void *)msg) != 0)
    return 1;
  pthread_join(t, NULL);
  FILE *f = fopen("/etc/hostname", "r");
  if (f)
    fclose(f);
  return 0;
}
