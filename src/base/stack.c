/* SPDX-License-Identifier: MIT */
/*
 * stack.c - the frames of a walk on the heap (include/drfs/stack.h).
 */
#include "drfs/stack.h"

void drfs_stack_init(struct drfs_stack *s, size_t frame_size)
{
	*s = (struct drfs_stack){ .size = frame_size };
}

void drfs_stack_release(struct drfs_stack *s, void (*release)(void *frame))
{
	for (size_t i = 0; i < s->n; i++) {
		if (release)
			release(s->v[i]);
		free(s->v[i]);
	}
	free(s->v);
	s->v = NULL;
	s->depth = s->n = s->cap = 0;
}

void *drfs_stack_next(struct drfs_stack *s)
{
	if (s->depth == s->n) {
		if (drfs_grow(&s->v, &s->cap, s->n, sizeof(*s->v), 16) < 0)
			return NULL;
		void *f = calloc(1, s->size);
		if (!f)
			return NULL;
		s->v[s->n++] = f;
	}
	return s->v[s->depth];
}
