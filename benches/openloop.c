/* The monitor benchmarks' workload: N opens and closes of one file (argv[2]), as fast as it can
 * (benches/monitor.sh), or paced at RATE opens a second (argv[3]; benches/events-rate.sh): each
 * millisecond's share is opened, then the loop sleeps until the next millisecond. Prints the rate
 * it reached when paced (tracing slows each open, so it can fall short of RATE). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: openloop N FILE [RATE]\n");
		return 2;
	}
	long n = atol(argv[1]);
	long rate = argc == 4 ? atol(argv[3]) : 0;
	struct timespec start, next, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	next = start;
	for (long i = 0; i < n; i++) {
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0) {
			perror(argv[2]);
			return 1;
		}
		close(fd);
		/* paced: after each millisecond's share, sleep to the next millisecond boundary */
		if (rate > 0 && (i + 1) % (rate / 1000 > 0 ? rate / 1000 : 1) == 0) {
			next.tv_nsec += 1000000;
			if (next.tv_nsec >= 1000000000) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	if (rate > 0)
		printf("openloop: %ld opens in %.3f s: %.0f opens/s\n", n, seconds(&end) - seconds(&start),
		       (double)n / (seconds(&end) - seconds(&start)));
	return 0;
}
