/* UDP load through the modem's session, timed in the guest (static, for the testbed's busybox
 * guest; busybox nc has no UDP). It sends datagrams to a UDP echo service and times the echoes.
 *
 *   net_load HOST PORT SIZE SECONDS rate BITS_PER_SECOND   open loop: send at that rate (IP bits)
 *   net_load HOST PORT SIZE SECONDS window N               closed loop: N datagrams in flight
 *
 * SIZE is the UDP payload; rates count whole IP packets (SIZE + 28 bytes over IPv4). Prints one
 * line: sent, received, the arrival rate between the first and the last echo (IP bits per
 * second), echoes per second, and round-trip p50 / p99 in microseconds. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: net_load HOST PORT SIZE SECONDS rate BPS | window N\n");
    return 2;
  }
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) return 2;
  size_t size = (size_t)atoi(argv[3]);
  double seconds = atof(argv[4]);
  int open_loop = strcmp(argv[5], "rate") == 0;
  double rate = atof(argv[6]);
  int window = open_loop ? 0 : atoi(argv[6]);
  if (size < 16 || size > 1472 || seconds <= 0 || rate <= 0) return 2;

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 1 << 21;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (fd < 0 || connect(fd, (struct sockaddr*)&to, sizeof to) != 0) return 3;
  unsigned char* buf = calloc(1, size);
  size_t max_samples = 1 << 20;
  double* rtt = calloc(max_samples, sizeof *rtt);
  uint64_t sent = 0, received = 0, in_flight = 0;
  double start = now_s(), end = start + seconds, first = 0, last = 0;
  double interval = open_loop ? (double)(size + 28) * 8 / rate : 0;
  double next = start;
  /* closed loop: a datagram lost is given up after this long, so the window never stalls */
  double give_up = 0.5;
  double* stamps = calloc(1 << 16, sizeof *stamps);
  for (;;) {
    double t = now_s();
    int sending = t < end;
    if (!sending && (in_flight == 0 || t > end + 1.0)) break;
    while (sending && (open_loop ? t >= next : in_flight < (uint64_t)window)) {
      uint32_t seq = (uint32_t)sent;
      memcpy(buf, &seq, 4);
      stamps[seq & 0xffff] = t;
      if (send(fd, buf, size, 0) < 0) break;
      ++sent;
      ++in_flight;
      next += interval;
      if (open_loop && next < t - 0.1) next = t;  /* never burst to catch up after a stall */
    }
    struct pollfd p = {fd, POLLIN, 0};
    double wait = open_loop && sending ? next - now_s() : 0.05;
    int ms = wait > 0 ? (int)(wait * 1000) : 0;
    if (poll(&p, 1, ms) > 0) {
      ssize_t n;
      while ((n = recv(fd, buf, size, MSG_DONTWAIT)) > 0) {
        double at = now_s();
        uint32_t seq;
        memcpy(&seq, buf, 4);
        if (received == 0) first = at;
        last = at;
        if (received < max_samples) rtt[received] = at - stamps[seq & 0xffff];
        ++received;
        if (in_flight > 0) --in_flight;
      }
    }
    /* closed loop: count the ones that never came back as lost once they are old */
    if (!open_loop && in_flight > 0 && now_s() - last > give_up && now_s() - start > give_up) {
      in_flight = 0;
      last = received ? last : now_s();
    }
  }
  size_t samples = received < max_samples ? received : max_samples;
  qsort(rtt, samples, sizeof *rtt, cmp);
  double span = last - first;
  double bps = received > 1 && span > 0 ? (double)(received - 1) * (size + 28) * 8 / span : 0;
  double pps = received > 1 && span > 0 ? (received - 1) / span : 0;
  printf("net_load: sent=%llu received=%llu rate_bps=%.0f pps=%.0f span_s=%.3f p50_us=%.0f p99_us=%.0f\n",
         (unsigned long long)sent, (unsigned long long)received, bps, pps, span,
         samples ? rtt[samples / 2] * 1e6 : 0, samples ? rtt[samples * 99 / 100] * 1e6 : 0);
  return 0;
}
