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
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 16;
			void *p = realloc(s->v, cap * sizeof(*s->v));
			if (!p)
				return NULL;
			s->v = p;
			s->cap = cap;
		}
		void *f = calloc(1, s->size);
		if (!f)
			return NULL;
		s->v[s->n++] = f;
	}
	return s->v[s->depth];
}
