/*
 * Constant-rate (open-loop) HTTP/1.1 POST generator for `npm run bench:publish`, built by
 * bench/publish.ts with `cc -O2`. wrk (closed loop) measures the saturating rate; this measures
 * latency at a given rate, the way wrk2 does: request i is due at start + i / RATE whatever
 * the server does, and its latency runs from that due time, not from when a connection was
 * free to send it. A server that falls behind therefore shows its queueing in the figures
 * instead of slowing the generator down (no coordinated omission).
 *
 *   publish-loadgen PORT PATH BODY_FILE RATE SECONDS CONNECTIONS [HEADER ...]
 *
 * Sends the body of BODY_FILE with `Content-Type: application/json` (plus each HEADER, e.g.
 * "Authorization: Bearer X") on CONNECTIONS keep-alive connections to 127.0.0.1:PORT, one
 * request in flight per connection, for SECONDS. Prints one JSON line:
 *   {"due":N,"completed":N,"non2xx":N,"errors":N,"rate":R,"p50Ms":..,"p90Ms":..,
 *    "p99Ms":..,"p999Ms":..,"maxMs":..,"lateMs":..}
 * `rate` is completed requests per second; `lateMs` is how far behind schedule the latest
 * request was sent (0 when the connections kept up); `reconnects` counts connections the
 * server closed (reopened at once; one closed with a request in flight is also an error).
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (64 * 1024)

typedef struct {
  int fd;
  int busy;
  double due; /* due time of the request in flight, seconds */
  size_t sent; /* bytes of the request written so far */
  size_t have; /* bytes buffered of the answer */
  char buf[READ_SIZE];
} conn_t;

static conn_t *conns;
static int nconns, port;
static char *request;
static size_t request_len;
static double *lat;
static size_t nlat = 0, caplat = 0;
static long non2xx = 0, errors = 0, reconnects = 0;

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int open_conn(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(0x7f000001);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* Non-blocking after the (loopback, immediate) connect. */
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* Replaces connection i's socket with a new one (the server closed it, or will). */
static void reconnect(int epfd, int i) {
  conn_t *c = &conns[i];
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = open_conn();
  if (c->fd < 0) {
    perror("reconnect");
    exit(1);
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  c->have = 0;
  reconnects++;
}

static void record(double ms) {
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 1 << 16;
    lat = realloc(lat, caplat * sizeof *lat);
    if (lat == NULL) {
      perror("realloc");
      exit(1);
    }
  }
  lat[nlat++] = ms;
}

/* Writes what is left of the request; 0 when all is written, 1 when the socket is full. */
static int flush_request(conn_t *c) {
  while (c->sent < request_len) {
    ssize_t n = write(c->fd, request + c->sent, request_len - c->sent);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return 1;
      return -1;
    }
    c->sent += (size_t)n;
  }
  return 0;
}

/*
 * Length of the first complete answer in c->buf, or 0 when more bytes are needed.
 * Handles Content-Length and chunked bodies; sets *status.
 */
static size_t answer_length(conn_t *c, int *status, int *closing) {
  c->buf[c->have < READ_SIZE ? c->have : READ_SIZE - 1] = 0;
  char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
  if (end == NULL) return 0;
  size_t head = (size_t)(end - c->buf) + 4;
  *status = atoi(c->buf + 9);
  long length = -1;
  int chunked = 0;
  for (char *line = strstr(c->buf, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n")) {
    char *l = line + 2;
    if (strncasecmp(l, "content-length:", 15) == 0) length = atol(l + 15);
    else if (strncasecmp(l, "transfer-encoding:", 18) == 0 && strstr(l, "chunked") != NULL) chunked = 1;
    else if (strncasecmp(l, "connection:", 11) == 0 && strncasecmp(l + 11 + strspn(l + 11, " "), "close", 5) == 0) *closing = 1;
  }
  if (chunked) {
    char *last = memmem(c->buf + head, c->have - head, "0\r\n\r\n", 5);
    if (last == NULL) return 0;
    return (size_t)(last - c->buf) + 5;
  }
  if (length < 0) length = 0;
  if (c->have < head + (size_t)length) return 0;
  return head + (size_t)length;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: publish-loadgen PORT PATH BODY_FILE RATE SECONDS CONNECTIONS [HEADER ...]\n");
    return 2;
  }
  port = atoi(argv[1]);
  const char *path = argv[2];
  double rate = atof(argv[4]);
  double seconds = atof(argv[5]);
  nconns = atoi(argv[6]);
  if (port <= 0 || rate <= 0 || seconds <= 0 || nconns <= 0) {
    fprintf(stderr, "publish-loadgen: bad arguments\n");
    return 2;
  }
  FILE *f = fopen(argv[3], "rb");
  if (f == NULL) {
    perror(argv[3]);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  long body_len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *body = malloc((size_t)body_len + 1);
  if (fread(body, 1, (size_t)body_len, f) != (size_t)body_len) {
    perror("fread");
    return 2;
  }
  fclose(f);
  size_t extra = 0;
  for (int i = 7; i < argc; i++) extra += strlen(argv[i]) + 2;
  request = malloc(512 + strlen(path) + extra + (size_t)body_len);
  int n = sprintf(request,
                  "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                  "Content-Length: %ld\r\n",
                  path, port, body_len);
  for (int i = 7; i < argc; i++) n += sprintf(request + n, "%s\r\n", argv[i]);
  n += sprintf(request + n, "\r\n");
  memcpy(request + n, body, (size_t)body_len);
  request_len = (size_t)n + (size_t)body_len;

  int epfd = epoll_create1(0);
  conns = calloc((size_t)nconns, sizeof *conns);
  int *idle = malloc((size_t)nconns * sizeof *idle);
  int nidle = 0;
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = open_conn();
    if (conns[i].fd < 0) {
      perror("connect");
      return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
    idle[nidle++] = i;
  }

  const long total = (long)(rate * seconds);
  long issued = 0, completed = 0;
  double late = 0;
  const double start = now_s();
  struct epoll_event events[256];
  while (completed + errors < total) {
    double t = now_s();
    /* Release every request due by now to an idle connection; the rest wait, late. */
    while (issued < total && nidle > 0) {
      double due = start + (double)issued / rate;
      if (due > t) break;
      conn_t *c = &conns[idle[--nidle]];
      c->busy = 1;
      c->due = due;
      c->sent = 0;
      if (t - due > late) late = t - due;
      issued++;
      if (flush_request(c) != 0) {
        /* A full socket is not expected for one small request; count and move on. */
        errors++;
        c->busy = 0;
        idle[nidle++] = (int)(c - conns);
      }
    }
    if (t - start > seconds + 30) break; /* the server stopped answering */
    double next = issued < total ? start + (double)issued / rate - t : 0.01;
    if (nidle == 0 || next < 0) next = 0.01;
    struct timespec timeout = {.tv_sec = 0, .tv_nsec = (long)(next * 1e9)};
    if (timeout.tv_nsec > 10000000) timeout.tv_nsec = 10000000;
    int ready = epoll_pwait2(epfd, events, 256, &timeout, NULL);
    if (ready < 0 && errno != EINTR) {
      perror("epoll_pwait2");
      return 1;
    }
    for (int e = 0; e < ready; e++) {
      int i = (int)events[e].data.u32;
      conn_t *c = &conns[i];
      ssize_t r = read(c->fd, c->buf + c->have, READ_SIZE - 1 - c->have);
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        /* Closed by the server: an idle keep-alive connection may be (clients reconnect);
           one with a request in flight is an error, and that request is not retried. */
        if (c->busy) {
          errors++;
          fprintf(stderr, "publish-loadgen: connection %d closed with a request in flight (%zu bytes buffered)\n", i, c->have);
        }
        reconnect(epfd, i);
        if (c->busy) {
          c->busy = 0;
          idle[nidle++] = i;
        }
        continue;
      }
      c->have += (size_t)r;
      int status = 0, closing = 0;
      size_t len;
      while ((len = answer_length(c, &status, &closing)) > 0) {
        if (!c->busy) {
          fprintf(stderr, "publish-loadgen: an answer nobody asked for\n");
          return 1;
        }
        double done = now_s();
        record((done - c->due) * 1000);
        if (status < 200 || status > 299) non2xx++;
        completed++;
        c->busy = 0;
        memmove(c->buf, c->buf + len, c->have - len);
        c->have -= len;
        idle[nidle++] = i;
        if (closing) {
          /* `Connection: close` (nginx after keepalive_requests): a client opens another. */
          reconnect(epfd, i);
          break;
        }
      }
      if (c->have >= READ_SIZE - 1) {
        fprintf(stderr, "publish-loadgen: answer larger than %d bytes\n", READ_SIZE);
        return 1;
      }
    }
  }
  double elapsed = now_s() - start;
  qsort(lat, nlat, sizeof *lat, cmp);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] : 0)
  printf("{\"due\":%ld,\"completed\":%ld,\"non2xx\":%ld,\"errors\":%ld,\"rate\":%.0f,"
         "\"p50Ms\":%.3f,\"p90Ms\":%.3f,\"p99Ms\":%.3f,\"p999Ms\":%.3f,\"maxMs\":%.3f,"
         "\"lateMs\":%.3f,\"reconnects\":%ld}\n",
         total, completed, non2xx, errors, (double)completed / elapsed, PCT(0.5), PCT(0.9),
         PCT(0.99), PCT(0.999), nlat ? lat[nlat - 1] : 0, late * 1000, reconnects);
  return 0;
}
