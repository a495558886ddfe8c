# Popcorn: a Linux multikernel in Rust.
#
#   make demo    build everything, boot QEMU and walk through what works
#   make test    build everything and run the whole test suite
#   make bench   build everything and run the benchmarks (ratios to baselines)
#   make fuzz    fuzz popcorn-core's parsers, 60 s a target (FUZZ_SECONDS=N)
#
# Both do their own set-up (Debian packages, bindgen, the kernel source) and
# reuse the kernel build cached in $(POPCORN_CACHE) (default ~/.cache/popcorn).

SHELL := /bin/bash

.PHONY: all setup kernel modules userspace initramfs build test test-host test-qemu bench fuzz demo clean help

all: build

help:
	@sed -n '3,10p' Makefile | sed 's/^# \{0,1\}//'

setup:
	@scripts/setup.sh

kernel: setup
	@scripts/build-kernel.sh

modules: kernel
	@scripts/build-modules.sh

userspace: setup
	@scripts/build-userspace.sh

initramfs: modules userspace
	@scripts/build-initramfs.sh

build: initramfs

# The scenarios and benchmarks drive the module's test hooks (msgtest/),
# which the module `make build` makes for operators does not have.
test test-qemu: export POPCORN_TEST_HOOKS := 1

test: build
	@tests/run

test-host: setup
	@tests/run --host

test-qemu: build
	@tests/run --qemu

# Benchmarks measure the kernel without debug aids (lockdep and friends
# would dominate the figures); both kernels stay cached, and the next
# `make build`/`make test` switches back to the debug one.
bench:
	@POPCORN_DEBUG=0 POPCORN_TEST_HOOKS=1 $(MAKE) --no-print-directory build
	@tests/bench/run

# Coverage-guided fuzzing of what other kernels write (docs/reliability.md);
# needs no kernel, and is not part of `make test`.
fuzz:
	@scripts/fuzz.sh

demo: build
	@qemu/demo

clean:
	rm -rf build userspace/target rust-modules/popcorn-core/target rust-modules/popcorn-core/fuzz/target
	cd rust-modules && rm -f */*.o */*.ko */*.mod */*.mod.c */.*.cmd */modules.order */Module.symvers
