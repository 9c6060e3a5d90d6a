/* SPDX-License-Identifier: MIT */
/*
 * stack.h - a stack of frames on the heap that keep their address: the
 * path of a walk that must not recurse, so that the depth of a tree is
 * bounded by memory and never by the C stack.
 *
 * A frame is allocated zeroed the first time its depth is reached and is
 * reused, as it was left, whenever that depth is reached again: what a
 * frame owns (buffers, arrays) can be kept for the next use. A pointer to
 * a frame stays valid until drfs_stack_release, whatever is pushed.
 *
 *	struct frame *f = drfs_stack_next(&s);     (f at depth s.depth)
 *	if (!f) return -ENOMEM;
 *	... fill f ...
 *	s.depth++;                                 (push)
 *	...
 *	s.depth--;                                 (pop)
 *
 * Not thread-safe: one stack per walk.
 */
#ifndef DRFS_STACK_H
#define DRFS_STACK_H

#include "drfs/base.h"

struct drfs_stack {
	void **v;     /* the frames allocated so far: n (room for cap) */
	size_t depth; /* in use: v[0] (bottom) .. v[depth - 1] (top) */
	size_t n, cap;
	size_t size;  /* bytes of one frame */
};

void drfs_stack_init(struct drfs_stack *s, size_t frame_size);
/*
 * Every frame allocated: release(frame) first, unless NULL (it sees frames
 * in use and frames left by a pop alike), then free. s is empty after.
 */
void drfs_stack_release(struct drfs_stack *s, void (*release)(void *frame));
/* The frame at depth s->depth, not in use yet; NULL if out of memory. */
void *drfs_stack_next(struct drfs_stack *s);
/* The frame at depth i: in use, or left by a pop (i < s->n). */
static inline void *drfs_stack_at(const struct drfs_stack *s, size_t i)
{
	return s->v[i];
}
/* The top frame; NULL when the stack is empty. */
static inline void *drfs_stack_top(const struct drfs_stack *s)
{
	return s->depth ? s->v[s->depth - 1] : NULL;
}

#endif
