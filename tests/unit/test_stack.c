/* SPDX-License-Identifier: MIT */
/*
 * test_stack.c - struct drfs_stack: a frame is zeroed when its depth is
 * first reached, keeps its address while the stack grows past it (the
 * array of frames is reallocated many times over), is found again as it
 * was left after a pop, and is released exactly once.
 */
#include "drfs/stack.h"

#include "test.h"

#define FRAMES 5000

struct frame {
	size_t level;
	char pad[100];
};

static size_t released;

static void count_release(void *frame)
{
	struct frame *f = frame;
	CHECK(f->level >= 1 && f->level <= FRAMES);
	released++;
}

int main(void)
{
	static struct frame *seen[FRAMES];
	struct drfs_stack s;

	test_init("test_stack");
	drfs_stack_init(&s, sizeof(struct frame));
	CHECK(drfs_stack_top(&s) == NULL);
	for (size_t i = 0; i < FRAMES; i++) {
		struct frame *f = drfs_stack_next(&s);
		CHECK(f != NULL);
		if (!f)
			return test_done("test_stack");
		CHECK_EQ(f->level, 0);
		CHECK(drfs_stack_next(&s) == f); /* not pushed: the same */
		f->level = i + 1;
		seen[i] = f;
		s.depth++;
		CHECK(drfs_stack_top(&s) == f);
	}
	for (size_t i = 0; i < FRAMES; i++) {
		CHECK(drfs_stack_at(&s, i) == seen[i]);
		CHECK_EQ(seen[i]->level, i + 1);
	}
	/* pop half, push again: the frames as they were left */
	s.depth = FRAMES / 2;
	CHECK(drfs_stack_top(&s) == seen[FRAMES / 2 - 1]);
	struct frame *f = drfs_stack_next(&s);
	CHECK(f == seen[FRAMES / 2]);
	CHECK_EQ(f->level, FRAMES / 2 + 1);
	CHECK_EQ(s.n, FRAMES);
	drfs_stack_release(&s, count_release);
	CHECK_EQ(released, FRAMES);
	CHECK(s.v == NULL && s.depth == 0 && s.n == 0 && s.cap == 0);
	drfs_stack_release(&s, count_release); /* empty: nothing */
	CHECK_EQ(released, FRAMES);
	return test_done("test_stack");
}
