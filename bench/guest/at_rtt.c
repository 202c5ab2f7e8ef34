/* AT round trips on a tty, timed in the guest: ATE0, then N times "AT\r" until "OK".
 * Prints p50, p99 and mean in microseconds. Static, for the testbed's busybox guest.
 *   at_rtt DEVICE N */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int round_trip(int fd, const char* cmd) {
  char buf[512];
  size_t got = 0;
  if (write(fd, cmd, strlen(cmd)) < 0) return -1;
  while (got < sizeof buf - 1) {
    ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
    if (n <= 0) return -1;
    got += (size_t)n;
    buf[got] = 0;
    if (strstr(buf, "OK\r\n") || strstr(buf, "ERROR")) return 0;
  }
  return -1;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  int n = atoi(argv[2]);
  int fd = open(argv[1], O_RDWR | O_NOCTTY);
  if (fd < 0) return 3;
  struct termios t;
  tcgetattr(fd, &t);
  cfmakeraw(&t);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  tcsetattr(fd, TCSANOW, &t);
  tcflush(fd, TCIOFLUSH);
  if (round_trip(fd, "ATE0\r") != 0) return 4;
  double* d = calloc((size_t)n, sizeof *d);
  double sum = 0;
  for (int i = 0; i < n; i++) {
    double t0 = now_us();
    if (round_trip(fd, "AT\r") != 0) return 5;
    d[i] = now_us() - t0;
    sum += d[i];
  }
  qsort(d, (size_t)n, sizeof *d, cmp);
  printf("at_rtt n=%d p50_us=%.0f p99_us=%.0f mean_us=%.0f\n", n, d[n / 2], d[n * 99 / 100], sum / n);
  return 0;
}
