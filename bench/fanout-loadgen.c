/*
 * Fan-out load generator in C (built by bench/fanout.ts with `cc -O2` when a compiler is
 * present; bench/fanout-client.ts is the JavaScript fallback with the same protocol).
 *
 * Why C: a Node client pays ~5-10 us per socket read in stream machinery, so on one core it
 * saturates long before the server under test does. Here a read costs little more than the
 * syscall, and the measurement stays about the server.
 *
 *   fanout-loadgen PORT PATH COUNT FIRST_SOURCE PROBE_EVERY
 *
 * Opens COUNT connections from 127.0.0.FIRST_SOURCE .. +7, sends `GET PATH`, then counts the
 * events it receives (one per `"t":` marker in the payload) and, on every PROBE_EVERY-th
 * connection, records latency = CLOCK_MONOTONIC now - the payload's timestamp (ms, taken by
 * the publisher from the same clock). Commands on stdin, one per line, answers on stdout:
 *   reset            -> "reset"          zero counters and latency samples
 *   stats            -> "stats DELIVERED CONNECTED FAILED CLOSED"
 *   lat FILE         -> "lat N"          latency samples (float64, ms) written to FILE
 *   exit
 * When every connection is open (or failed) it prints "open CONNECTED FAILED".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CARRY_MAX 64
#define READ_SIZE (256 * 1024)
#define MAX_INFLIGHT 256

typedef struct {
  int fd;
  int state; /* 0 idle, 1 connecting, 2 waiting headers, 3 streaming, 4 closed */
  int probe;
  int carry_len;
  char carry[CARRY_MAX + 8];
} conn_t;

static conn_t *conns;
static int count, port, first_source, probe_every;
static const char *path;
static long delivered = 0;
static int connected = 0, failed = 0, closed_after_open = 0, inflight = 0, next_conn = 0;
static int open_reported = 0;
static double *lat;
static size_t nlat = 0, caplat = 0;
static char request[512];
static int request_len;
static int epfd;
static char readbuf[READ_SIZE + CARRY_MAX + 8];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void add_lat(double v) {
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 65536;
    lat = realloc(lat, caplat * sizeof(double));
  }
  lat[nlat++] = v;
}

static void close_conn(conn_t *c) {
  if (c->state == 4) return;
  if (c->state == 3) closed_after_open++;
  else failed++;
  if (c->state == 1 || c->state == 2) inflight--;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = 4;
}

static void start_conn(int i) {
  conn_t *c = &conns[i];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) { failed++; c->state = 4; return; }
  struct sockaddr_in src = {0}, dst = {0};
  src.sin_family = AF_INET;
  char ip[32];
  snprintf(ip, sizeof ip, "127.0.0.%d", first_source + (i % 8));
  inet_pton(AF_INET, ip, &src.sin_addr);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) { close(fd); failed++; c->state = 4; return; }
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  c->fd = fd;
  c->state = 1;
  c->probe = probe_every > 0 && i % probe_every == 0;
  c->carry_len = 0;
  inflight++;
  int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
  if (r != 0 && errno != EINPROGRESS) { close(fd); inflight--; failed++; c->state = 4; return; }
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void fill_connects(void) {
  while (inflight < MAX_INFLIGHT && next_conn < count) start_conn(next_conn++);
  if (!open_reported && connected + failed + closed_after_open >= count) {
    open_reported = 1;
    printf("open %d %d\n", connected, failed);
    fflush(stdout);
  }
}

/* Scans data (carry already prepended) for markers; counts complete ones. */
static void scan(conn_t *c, char *data, size_t len, double arrived) {
  static const char marker[] = "\"t\":";
  char *p = data, *end = data + len;
  char *pending = NULL;
  for (;;) {
    char *m = memmem(p, (size_t)(end - p), marker, 4);
    if (!m) break;
    char *comma = memchr(m + 4, ',', (size_t)(end - m - 4));
    if (!comma) { pending = m; break; }
    delivered++;
    if (c->probe) add_lat(arrived - strtod(m + 4, NULL));
    p = comma;
  }
  size_t keep;
  char *from;
  if (pending && end - pending <= CARRY_MAX) { from = pending; keep = (size_t)(end - pending); }
  else { keep = len < 3 ? len : 3; from = end - keep; }
  memmove(c->carry, from, keep);
  c->carry_len = (int)keep;
}

static void on_readable(conn_t *c) {
  for (;;) {
    char *buf = readbuf + CARRY_MAX;
    ssize_t n = read(c->fd, buf, READ_SIZE);
    if (n == 0) { close_conn(c); return; }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close_conn(c);
      return;
    }
    double arrived = now_ms();
    char *data = buf - c->carry_len;
    memcpy(data, c->carry, (size_t)c->carry_len);
    size_t len = (size_t)n + (size_t)c->carry_len;
    if (c->state == 2) {
      char *hdr_end = memmem(data, len, "\r\n\r\n", 4);
      if (!hdr_end) {
        size_t keep = len < CARRY_MAX ? len : CARRY_MAX;
        memmove(c->carry, data + len - keep, keep);
        c->carry_len = (int)keep;
        continue;
      }
      if (len < 12 || memcmp(data + 8, " 200", 4) != 0) { close_conn(c); return; }
      c->state = 3;
      inflight--;
      connected++;
      size_t skip = (size_t)(hdr_end + 4 - data);
      data += skip;
      len -= skip;
      c->carry_len = 0;
    }
    scan(c, data, len, arrived);
    if ((size_t)n < READ_SIZE) return;
  }
}

static char cmdbuf[4096];
static size_t cmdlen = 0;

static void on_command(char *line) {
  if (strcmp(line, "reset") == 0) {
    delivered = 0;
    nlat = 0;
    printf("reset\n");
  } else if (strcmp(line, "stats") == 0) {
    printf("stats %ld %d %d %d\n", delivered, connected, failed, closed_after_open);
  } else if (strncmp(line, "lat ", 4) == 0) {
    FILE *f = fopen(line + 4, "wb");
    if (f) { fwrite(lat, sizeof(double), nlat, f); fclose(f); }
    printf("lat %zu\n", nlat);
  } else if (strcmp(line, "exit") == 0) {
    exit(0);
  }
  fflush(stdout);
}

static void on_stdin(void) {
  ssize_t n = read(0, cmdbuf + cmdlen, sizeof cmdbuf - cmdlen - 1);
  if (n <= 0) exit(0);
  cmdlen += (size_t)n;
  char *start = cmdbuf, *nl;
  while ((nl = memchr(start, '\n', cmdlen - (size_t)(start - cmdbuf)))) {
    *nl = 0;
    on_command(start);
    start = nl + 1;
  }
  cmdlen -= (size_t)(start - cmdbuf);
  memmove(cmdbuf, start, cmdlen);
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: %s PORT PATH COUNT FIRST_SOURCE PROBE_EVERY\n", argv[0]); return 2; }
  port = atoi(argv[1]);
  path = argv[2];
  count = atoi(argv[3]);
  first_source = atoi(argv[4]);
  probe_every = atoi(argv[5]);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  request_len = snprintf(request, sizeof request,
                         "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", path);
  conns = calloc((size_t)count, sizeof(conn_t));
  epfd = epoll_create1(0);
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = 0xffffffffu};
  epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);
  fill_connects();
  struct epoll_event events[1024];
  for (;;) {
    int n = epoll_wait(epfd, events, 1024, 100);
    for (int i = 0; i < n; i++) {
      uint32_t id = events[i].data.u32;
      if (id == 0xffffffffu) { on_stdin(); continue; }
      conn_t *c = &conns[id];
      if (c->state == 4) continue;
      if (c->state == 1) {
        if (events[i].events & (EPOLLERR | EPOLLHUP)) { close_conn(c); continue; }
        if (events[i].events & EPOLLOUT) {
          if (write(c->fd, request, (size_t)request_len) != request_len) { close_conn(c); continue; }
          c->state = 2;
          struct epoll_event ev = {.events = EPOLLIN, .data.u32 = id};
          epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
    fill_connects();
  }
}
