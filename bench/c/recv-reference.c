// The kernel's UDP receive path with nothing else: the reference bench/ingest's `--paths c` runs
// beside the addon (Node, libuv, a JS callback per batch) to show what the kernel itself charges
// for receiving at a given rate, and so how much of a rate's cost is the runtime's.
//
// It reads the way the addon does: recvmmsg in batches into fixed slots with the same socket
// options (SO_RCVBUFFORCE, SO_TIMESTAMPNS and SO_RXQ_OVFL control messages), at most 64 batches a
// wake-up, touching each datagram's first byte, and it waits between reads by the addon's rule:
// a fixed wait, or (adaptive) the wait that keeps the buffer an eighth full at the rate it
// filled, no more than three quarters of a wake-up's reads take to arrive, at most twice the
// last wait (from 1 ms) and the longest wait given, none under 1 ms, and none after a wake-up
// that left datagrams queued. It waits in poll(2) for the first datagram after an empty read and
// in nanosleep(2) for a timed one.
//
//   recv-reference BATCH SLOT RCVBUF WAIT_US ADAPTIVE(0|1) IDLE_EXIT_MS
//
// Binds 127.0.0.1 on an ephemeral port and prints "port N"; once datagrams have come, exits
// after IDLE_EXIT_MS without any and prints one JSON line: datagrams, bytes, wake-ups that read
// something, recvmmsg calls that did, the receive buffer granted, the process's user and system
// CPU (µs) from the first datagram to the end of the last read, the kernel's drop count
// (SO_RXQ_OVFL) and the median chosen wait (µs).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/sock_diag.h>

#define MAX_BATCHES_PER_WAKE 64
#define CTRL_SIZE 64
#define MAX_WAITS 1000000

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(const struct timeval *t) { return t->tv_sec * 1e6 + t->tv_usec; }

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static long arg(char **argv, int i, long min, const char *name) {
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*end != '\0' || v < min) {
    fprintf(stderr, "recv-reference: %s must be an integer >= %ld, got \"%s\"\n", name, min, argv[i]);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: recv-reference BATCH SLOT RCVBUF WAIT_US ADAPTIVE IDLE_EXIT_MS\n");
    return 2;
  }
  int batch = (int)arg(argv, 1, 1, "BATCH");
  int slot = (int)arg(argv, 2, 1, "SLOT");
  int rcvbuf = (int)arg(argv, 3, 0, "RCVBUF");
  int64_t waitUs = arg(argv, 4, 0, "WAIT_US");
  int adaptive = (int)arg(argv, 5, 0, "ADAPTIVE");
  int idleExitMs = (int)arg(argv, 6, 1, "IDLE_EXIT_MS");

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return perror("socket"), 1;
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof addr;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return perror("bind"), 1;
  getsockname(fd, (struct sockaddr *)&addr, &alen);
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  char *data = calloc((size_t)batch, (size_t)slot);
  char *ctrl = calloc((size_t)batch, CTRL_SIZE);
  struct mmsghdr *msgs = calloc((size_t)batch, sizeof *msgs);
  struct iovec *iov = calloc((size_t)batch, sizeof *iov);
  struct sockaddr_storage *names = calloc((size_t)batch, sizeof *names);
  int64_t *waits = malloc(MAX_WAITS * sizeof *waits);
  if (!data || !ctrl || !msgs || !iov || !names || !waits) return fputs("out of memory\n", stderr), 1;
  for (int i = 0; i < batch; i++) {
    iov[i].iov_base = data + (size_t)i * slot;
    iov[i].iov_len = (size_t)slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &names[i];
    msgs[i].msg_hdr.msg_control = ctrl + (size_t)i * CTRL_SIZE;
  }

  struct rusage first, last;
  long long received = 0, bytes = 0, wakes = 0, batches = 0;
  uint32_t drops = 0, touched = 0;
  long nwaits = 0;
  int64_t lastDelay = 0;
  double drainedAt = -1;
  int started = 0;
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  int64_t delay = 0;  // the timed wait before the next read (0: wait in poll for a datagram)
  for (;;) {
    if (delay > 0) {
      struct timespec ts = {(time_t)(delay / 1000000), (long)(delay % 1000000) * 1000};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
    } else {
      int r = poll(&pfd, 1, started ? idleExitMs : -1);
      if (r == 0) break;
      if (r < 0 && errno != EINTR) return perror("poll"), 1;
    }
    if (!started) {
      getrusage(RUSAGE_SELF, &first);
      last = first;
      started = 1;
    }
    double fill = -1, size = 0, filledUs = 0;
    if (adaptive && waitUs > 0 && drainedAt >= 0) {
      uint32_t mem[SK_MEMINFO_VARS];
      socklen_t ml = sizeof mem;
      if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &ml) == 0) {
        fill = mem[SK_MEMINFO_RMEM_ALLOC];
        size = mem[SK_MEMINFO_RCVBUF];
        filledUs = now_us() - drainedAt;
      }
    }
    int drained = 0;
    long got = 0;
    for (int b = 0; b < MAX_BATCHES_PER_WAKE; b++) {
      for (int i = 0; i < batch; i++) {
        msgs[i].msg_hdr.msg_namelen = sizeof names[i];
        msgs[i].msg_hdr.msg_controllen = CTRL_SIZE;
        msgs[i].msg_hdr.msg_flags = 0;
      }
      int n = recvmmsg(fd, msgs, (unsigned)batch, MSG_DONTWAIT, NULL);
      if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return perror("recvmmsg"), 1;
        drained = 1;
        break;
      }
      for (int i = 0; i < n; i++) {
        struct msghdr *m = &msgs[i].msg_hdr;
        bytes += msgs[i].msg_len;
        if (msgs[i].msg_len > 0) touched += (unsigned char)data[(size_t)i * slot];
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t d;
            memcpy(&d, CMSG_DATA(c), sizeof d);
            if (d > drops) drops = d;
          }
        }
      }
      got += n;
      batches++;
      if (n < batch) {
        drained = 1;
        break;
      }
    }
    if (got == 0) {  // a timed read found nothing: wait for the next datagram
      delay = 0;
      continue;
    }
    received += got;
    wakes++;
    delay = waitUs;
    if (adaptive && waitUs > 0) {
      if (!drained) {
        delay = 0;
      } else {
        double d = (double)waitUs;
        double grow = 2.0 * (double)(lastDelay > 1000 ? lastDelay : 1000);
        if (grow < d) d = grow;
        if (fill > 0 && filledUs > 0) {
          double keep = size / 8 * filledUs / fill;
          if (keep < d) d = keep;
          double most = 0.75 * MAX_BATCHES_PER_WAKE * batch * filledUs / (double)got;
          if (most < d) d = most;
        }
        delay = d < 1000 ? 0 : (int64_t)d;
      }
      drainedAt = drained ? now_us() : -1;
    }
    lastDelay = delay;
    if (nwaits < MAX_WAITS) waits[nwaits++] = delay;
    // Not drained and no wait: read again at once (poll returns straight away).
    getrusage(RUSAGE_SELF, &last);
  }
  qsort(waits, (size_t)nwaits, sizeof *waits, cmp_i64);
  int granted = 0;
  socklen_t gl = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &gl);
  printf("{\"received\":%lld,\"bytes\":%lld,\"wakes\":%lld,\"batches\":%lld,\"rcvbuf\":%d,\"userUs\":%.0f,\"systemUs\":%.0f,\"drops\":%u,\"waitUs\":%lld,\"touched\":%u}\n",
         received, bytes, wakes, batches, granted, started ? cpu_us(&last.ru_utime) - cpu_us(&first.ru_utime) : 0.0,
         started ? cpu_us(&last.ru_stime) - cpu_us(&first.ru_stime) : 0.0, drops,
         nwaits > 0 ? (long long)waits[nwaits / 2] : -1LL, touched & 1);
  return 0;
}
