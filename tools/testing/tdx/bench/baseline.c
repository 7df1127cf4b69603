// SPDX-License-Identifier: GPL-2.0-only
/*
 * The C baseline of `make bench` (tools/testing/tdx/bench): the same KVM work
 * as the Python rows, done with raw ioctls, so that the bench can report
 * Python's cost as a ratio measured in the same invocation on the same
 * machine instead of an absolute number that means nothing elsewhere.
 *
 *   baseline startup                          open /dev/kvm, check the API, exit
 *   baseline lifecycle SAMPLES WARMUP         create VM, vCPU, memslot, run to
 *                                             the first exit, close; ns each
 *   baseline roundtrip SAMPLES EXITS WARMUP   EXITS x KVM_RUN of an `out; jmp`
 *                                             loop; total ns per sample
 *
 * Samples go to stdout on one line, "<what> <ns> <ns> ...", and the
 * statistics are left to the Python side so that both columns of a row
 * are summarised by the same code.
 *
 * The guest is four bytes at the reset vector: a fresh vCPU starts in real
 * mode at CS:IP f000:fff0 (GPA 0xfffffff0), so it needs no register setup
 * at all and every ioctl timed here is one the lifecycle cannot avoid.
 *
 * Every KVM_RUN is guarded by alarm(): on this machine a CPL0 guest can spin
 * inside KVM_RUN forever (docs/host-kvm.md §0.3), and a
 * benchmark must never be the thing that hangs CI.  The SIGALRM handler is
 * installed without SA_RESTART, so KVM_RUN returns EINTR and we fail.
 *
 * Exit status: 0 ok, 4 /dev/kvm unusable (the kselftest skip code), 1 error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SLOT_SIZE	(2UL << 20)		/* as in docs/host-kvm.md §7 */
#define SLOT_GPA	((1ULL << 32) - SLOT_SIZE)	/* ends at 4 GiB: holds the reset vector */
#define RESET_OFFSET	(SLOT_SIZE - 16)	/* GPA 0xfffffff0 inside the slot */
#define GUEST_PORT	0x10
#define DEFAULT_TIMEOUT	10			/* seconds; TDX_RUN_TIMEOUT overrides */

/* 1: out %al, $0x10; jmp 1b  -- the Python side uses the same bytes */
static const uint8_t guest_code[] = { 0xe6, GUEST_PORT, 0xeb, 0xfc };

static int kvm_fd = -1;
static int run_size;
static unsigned int run_timeout = DEFAULT_TIMEOUT;

static void die(const char *what)
{
	fprintf(stderr, "baseline: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;	/* its only job is to make KVM_RUN return EINTR */
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void setup(void)
{
	struct sigaction sa;
	const char *env = getenv("TDX_RUN_TIMEOUT");
	int api;

	if (env && atof(env) > 0)
		run_timeout = (unsigned int)atof(env) + 1;	/* alarm() has whole seconds */

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: KVM_RUN must come back */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		die("sigaction");

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		fprintf(stderr, "baseline: /dev/kvm: %s\n", strerror(errno));
		exit(4);
	}
	api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		fprintf(stderr, "baseline: KVM API version %d, expected %d\n", api, KVM_API_VERSION);
		exit(4);
	}
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
}

struct vm {
	int fd, vcpu_fd;
	void *mem;
	struct kvm_run *run;
};

/* Everything up to a runnable vCPU, in the order tdx.lib.kvm does it. */
static void vm_create(struct vm *vm)
{
	struct kvm_userspace_memory_region region;

	vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		die("KVM_CREATE_VM");
	vm->mem = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		die("mmap guest memory");
	memcpy((uint8_t *)vm->mem + RESET_OFFSET, guest_code, sizeof(guest_code));
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = SLOT_GPA;
	region.memory_size = SLOT_SIZE;
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");
	vm->vcpu_fd = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		die("KVM_CREATE_VCPU");
	vm->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		die("mmap kvm_run");
}

/* Same order as tdx.lib.kvm.Vm.close(): vCPUs, the VM fd, then memory. */
static void vm_destroy(struct vm *vm)
{
	munmap(vm->run, run_size);
	close(vm->vcpu_fd);
	close(vm->fd);
	munmap(vm->mem, SLOT_SIZE);
}

/* One KVM_RUN that must end in the guest's OUT. */
static void run_to_out(struct vm *vm)
{
	if (ioctl(vm->vcpu_fd, KVM_RUN, 0)) {
		if (errno == EINTR) {
			fprintf(stderr, "baseline: KVM_RUN did not return within %u s\n", run_timeout);
			exit(1);
		}
		die("KVM_RUN");
	}
	if (vm->run->exit_reason != KVM_EXIT_IO || vm->run->io.port != GUEST_PORT) {
		fprintf(stderr, "baseline: unexpected exit %u (port 0x%x)\n",
			vm->run->exit_reason, vm->run->io.port);
		exit(1);
	}
}

static uint64_t one_lifecycle(void)
{
	struct vm vm;
	uint64_t start, end;

	alarm(run_timeout);		/* armed outside the timed region */
	start = now_ns();
	vm_create(&vm);
	run_to_out(&vm);
	vm_destroy(&vm);
	end = now_ns();
	alarm(0);
	return end - start;
}

static uint64_t one_roundtrip(struct vm *vm, long exits)
{
	uint64_t start, end;
	long i;

	alarm(run_timeout);
	start = now_ns();
	for (i = 0; i < exits; i++)
		run_to_out(vm);
	end = now_ns();
	alarm(0);
	return end - start;
}

static long number(const char *arg, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < min) {
		fprintf(stderr, "baseline: bad number %s (minimum %ld)\n", arg, min);
		exit(1);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: baseline startup\n"
			"       baseline lifecycle SAMPLES WARMUP\n"
			"       baseline roundtrip SAMPLES EXITS WARMUP\n");
	exit(1);
}

int main(int argc, char **argv)
{
	long samples, warmup, exits, i;
	struct vm vm;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "startup") && argc == 2) {
		setup();
		return 0;
	}
	if (!strcmp(argv[1], "lifecycle") && argc == 4) {
		samples = number(argv[2], 1);
		warmup = number(argv[3], 0);
		setup();
		for (i = 0; i < warmup; i++)
			one_lifecycle();
		printf("lifecycle");
		for (i = 0; i < samples; i++)
			printf(" %llu", (unsigned long long)one_lifecycle());
		printf("\n");
		return 0;
	}
	if (!strcmp(argv[1], "roundtrip") && argc == 5) {
		samples = number(argv[2], 1);
		exits = number(argv[3], 1);
		warmup = number(argv[4], 0);
		setup();
		vm_create(&vm);
		/* The warm-up also takes the first exit, which pays for faulting
		 * in guest memory, out of the samples. */
		one_roundtrip(&vm, warmup + 1);
		printf("roundtrip");
		for (i = 0; i < samples; i++)
			printf(" %llu", (unsigned long long)one_roundtrip(&vm, exits));
		printf("\n");
		vm_destroy(&vm);
		return 0;
	}
	usage();
	return 1;
}
