/*
 * tinyhttpd: the smallest server that still looks like a real one to the tracer.
 *
 * It answers every request with a fixed HTTP/1.0 200 page and logs one line per
 * request through stdio, so the binary reaches write(2) the way real servers do:
 * indirectly, through libc's FILE vtables, not only through a direct write() call.
 * It also installs a signal handler (reached only through a function pointer) for
 * a clean SIGTERM exit, the other indirect path the static analysis must not miss.
 *
 * Usage: tinyhttpd [PORT]   (default 8080; listens on 0.0.0.0 inside the container)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static const char body[] = "hello from tinyhttpd\n";

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8080;
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "tinyhttpd: bad port %s\n", argv[1]);
    return 2;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int srv = socket(AF_INET, SOCK_STREAM, 0);
  if (srv < 0) {
    perror("socket");
    return 1;
  }
  int one = 1;
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(srv, 16) < 0) {
    perror("bind/listen");
    return 1;
  }
  printf("tinyhttpd listening on port %d\n", port);
  fflush(stdout);

  char req[2048];
  char head[256];
  while (!stopping) {
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int c = accept(srv, (struct sockaddr *)&peer, &plen);
    if (c < 0) {
      if (errno == EINTR) continue;
      perror("accept");
      break;
    }
    ssize_t n = read(c, req, sizeof req - 1);
    if (n < 0) n = 0;
    req[n] = '\0';
    char *eol = strpbrk(req, "\r\n");
    if (eol) *eol = '\0';
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      sizeof body - 1);
    if (write(c, head, (size_t)hl) < 0 || write(c, body, sizeof body - 1) < 0)
      perror("write");
    close(c);
    printf("%s \"%s\" 200\n", inet_ntoa(peer.sin_addr), req);
    fflush(stdout);
  }
  close(srv);
  printf("tinyhttpd stopping\n");
  return 0;
}
