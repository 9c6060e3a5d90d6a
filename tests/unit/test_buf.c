/* SPDX-License-Identifier: MIT */
/*
 * test_buf.c - struct drfs_buf limits and struct drfs_rd bounds: -E2BIG
 * leaves a buffer unchanged, varints round-trip (up to the 10-byte
 * maximum), over-long/overflowing varints are rejected, and no read goes
 * past the end (every input is an exact-size heap copy, so ASan would see).
 */
#include "drfs/buf.h"

#include "test.h"

static void test_limits(void)
{
	struct drfs_buf b;

	drfs_buf_init(&b, 10);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && b.max == 10);
	CHECK_EQ(drfs_buf_append(&b, "0123456789", 10), 0);
	CHECK_EQ(b.len, 10);
	CHECK(b.cap <= b.max);
	uint8_t *p = b.p;
	CHECK_EQ(drfs_buf_u8(&b, 'x'), -E2BIG);
	CHECK_EQ(drfs_buf_le32(&b, 1), -E2BIG);
	CHECK_EQ(drfs_buf_le64(&b, 1), -E2BIG);
	CHECK_EQ(drfs_buf_uvarint(&b, 1), -E2BIG);
	CHECK_EQ(drfs_buf_svarint(&b, -1), -E2BIG);
	CHECK_EQ(drfs_buf_bytes(&b, "", 0), -E2BIG);
	CHECK_EQ(drfs_buf_printf(&b, "%d", 1), -E2BIG);
	CHECK_EQ(drfs_buf_reserve(&b, 1), -E2BIG);
	CHECK_EQ(drfs_buf_reserve(&b, SIZE_MAX), -E2BIG);
	CHECK(b.p == p && b.len == 10 && memcmp(b.p, "0123456789", 10) == 0);
	/* appending nothing is fine even when full */
	CHECK_EQ(drfs_buf_append(&b, NULL, 0), 0);

	/* a partial bytes() must not leave the length prefix behind */
	drfs_buf_reset(&b);
	CHECK_EQ(drfs_buf_append(&b, "abcdefgh", 8), 0);
	CHECK_EQ(drfs_buf_bytes(&b, "xyz", 3), -E2BIG);
	CHECK_EQ(b.len, 8);
	CHECK_EQ(drfs_buf_bytes(&b, "x", 1), 0);
	CHECK_EQ(b.len, 10);
	CHECK(b.p[8] == 1 && b.p[9] == 'x');

	/* a printf that does not fit leaves the buffer alone */
	drfs_buf_reset(&b);
	CHECK_EQ(drfs_buf_printf(&b, "%s", "12345"), 0);
	CHECK_EQ(b.len, 5);
	CHECK_EQ(drfs_buf_printf(&b, "%s", "67890"), -E2BIG); /* +NUL: 11 */
	CHECK_EQ(b.len, 5);
	CHECK_EQ(drfs_buf_printf(&b, "%s", "678"), 0);
	CHECK_EQ(b.len, 8);
	CHECK(memcmp(b.p, "12345678", 9) == 0);

	size_t len = 0;
	uint8_t *s = drfs_buf_steal(&b, &len);
	CHECK(s != NULL && len == 8);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && b.max == 10);
	free(s);
	drfs_buf_release(&b);
	drfs_buf_release(&b); /* twice is fine */

	/* max 0: nothing fits */
	drfs_buf_init(&b, 0);
	CHECK_EQ(drfs_buf_u8(&b, 1), -E2BIG);
	CHECK(b.p == NULL);

	/* growth keeps content */
	drfs_buf_init(&b, 1 << 20);
	for (uint32_t i = 0; i < 100000; i++)
		CHECK_EQ(drfs_buf_le32(&b, i), 0);
	CHECK_EQ(b.len, 400000);
	CHECK_EQ(drfs_get_le32(b.p + 4 * 54321), 54321);
	drfs_buf_release(&b);
}

/* Read back v from an exact-size copy of its encoding. */
static void varint_rt(uint64_t v, size_t want_len)
{
	struct drfs_buf b;
	struct drfs_rd rd;

	drfs_buf_init(&b, 16);
	CHECK_EQ(drfs_buf_uvarint(&b, v), 0);
	if (want_len)
		CHECK_EQ(b.len, want_len);
	uint8_t *c = malloc(b.len);
	memcpy(c, b.p, b.len);
	drfs_rd_init(&rd, c, b.len);
	CHECK(drfs_rd_uvarint(&rd) == v);
	CHECK_EQ(drfs_rd_err(&rd), 0);
	CHECK_EQ(drfs_rd_left(&rd), 0);
	/* every truncation fails */
	for (size_t n = 0; n < b.len; n++) {
		drfs_rd_init(&rd, c, n);
		CHECK(drfs_rd_uvarint(&rd) == 0);
		CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);
	}
	free(c);
	drfs_buf_release(&b);
}

static void svarint_rt(int64_t v)
{
	struct drfs_buf b;
	struct drfs_rd rd;

	drfs_buf_init(&b, 16);
	CHECK_EQ(drfs_buf_svarint(&b, v), 0);
	CHECK(b.len <= 10);
	drfs_rd_init(&rd, b.p, b.len);
	CHECK(drfs_rd_svarint(&rd) == v);
	CHECK_EQ(drfs_rd_err(&rd), 0);
	CHECK_EQ(drfs_rd_left(&rd), 0);
	drfs_buf_release(&b);
}

static int read_uvarint(const uint8_t *p, size_t len, uint64_t *v)
{
	struct drfs_rd rd;
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, p, len);
	drfs_rd_init(&rd, c, len);
	*v = drfs_rd_uvarint(&rd);
	int r = drfs_rd_err(&rd);
	free(c);
	return r;
}

static void test_varint(void)
{
	varint_rt(0, 1);
	varint_rt(1, 1);
	varint_rt(127, 1);
	varint_rt(128, 2);
	varint_rt(16383, 2);
	varint_rt(16384, 3);
	varint_rt(UINT32_MAX, 5);
	varint_rt(1ull << 63, 10);
	varint_rt(UINT64_MAX, 10);
	varint_rt((1ull << 63) - 1, 9);
	for (int i = 0; i < 10000; i++)
		varint_rt(test_rand() >> (test_rand() % 64), 0);
	int64_t sv[] = { 0, 1, -1, 63, -64, 64, -65, INT32_MIN, INT32_MAX,
			 INT64_MIN, INT64_MAX, -2208988800ll };
	for (size_t i = 0; i < ARRAY_SIZE(sv); i++)
		svarint_rt(sv[i]);
	for (int i = 0; i < 10000; i++)
		svarint_rt((int64_t)(test_rand() >> (test_rand() % 64)) *
			   (test_rand() & 1 ? 1 : -1));

	/* zig-zag: small magnitudes are small */
	struct drfs_buf b;
	drfs_buf_init(&b, 16);
	CHECK_EQ(drfs_buf_svarint(&b, -1), 0);
	CHECK(b.len == 1 && b.p[0] == 1);
	drfs_buf_reset(&b);
	CHECK_EQ(drfs_buf_svarint(&b, 1), 0);
	CHECK(b.len == 1 && b.p[0] == 2);
	drfs_buf_release(&b);

	uint64_t v;
	/* UINT64_MAX: nine 0xff then 0x01 */
	static const uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0x01 };
	CHECK_EQ(read_uvarint(max, sizeof(max), &v), 0);
	CHECK(v == UINT64_MAX);
	/* overflow: the 10th byte may only carry bit 63 */
	static const uint8_t ovf[] = { 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0x02 };
	CHECK_EQ(read_uvarint(ovf, sizeof(ovf), &v), -EBADMSG);
	static const uint8_t ovf2[] = { 0x80, 0x80, 0x80, 0x80, 0x80,
					0x80, 0x80, 0x80, 0x80, 0x7f };
	CHECK_EQ(read_uvarint(ovf2, sizeof(ovf2), &v), -EBADMSG);
	/* more than 10 bytes */
	static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					  0x80, 0x80, 0x80, 0x80, 0x00 };
	CHECK_EQ(read_uvarint(eleven, sizeof(eleven), &v), -EBADMSG);
	static const uint8_t ten_cont[] = { 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0x81 };
	CHECK_EQ(read_uvarint(ten_cont, sizeof(ten_cont), &v), -EBADMSG);
	/* unterminated */
	static const uint8_t unterm[] = { 0x80 };
	CHECK_EQ(read_uvarint(unterm, sizeof(unterm), &v), -EBADMSG);
	CHECK_EQ(read_uvarint(unterm, 0, &v), -EBADMSG);

	/*
	 * Over-long encodings (0x80 0x00 for 0, 0x81 0x80 0x00 for 1) are
	 * rejected: every value has exactly one encoding, so decode ->
	 * encode reproduces the input.
	 */
	static const uint8_t overlong[] = { 0x80, 0x00 };
	static const uint8_t overlong1[] = { 0x81, 0x80, 0x00 };
	CHECK_EQ(read_uvarint(overlong, sizeof(overlong), &v), -EBADMSG);
	CHECK_EQ(read_uvarint(overlong1, sizeof(overlong1), &v), -EBADMSG);
}

static void test_reader(void)
{
	struct drfs_rd rd;
	uint8_t *p = malloc(13);
	uint8_t out[16];

	memcpy(p, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d", 13);
	drfs_rd_init(&rd, p, 13);
	CHECK_EQ(drfs_rd_u8(&rd), 1);
	CHECK_EQ(drfs_rd_le32(&rd), 0x05040302);
	CHECK(drfs_rd_le64(&rd) == 0x0d0c0b0a09080706ull);
	CHECK_EQ(drfs_rd_left(&rd), 0);
	CHECK_EQ(drfs_rd_err(&rd), 0);
	/* past the end: zero, sticky error */
	CHECK_EQ(drfs_rd_u8(&rd), 0);
	CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);
	CHECK_EQ(drfs_rd_left(&rd), 0);

	/* a short le32/le64 does not consume and stays failed */
	drfs_rd_init(&rd, p, 3);
	CHECK_EQ(drfs_rd_le32(&rd), 0);
	CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);
	CHECK_EQ(drfs_rd_u8(&rd), 0); /* sticky even though bytes remain */
	drfs_rd_init(&rd, p, 7);
	CHECK(drfs_rd_le64(&rd) == 0);
	CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);

	/* copy: zeroes on failure */
	drfs_rd_init(&rd, p, 13);
	memset(out, 0xaa, sizeof(out));
	drfs_rd_copy(&rd, out, 14);
	CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);
	CHECK(out[0] == 0 && out[13] == 0);
	drfs_rd_init(&rd, p, 13);
	drfs_rd_copy(&rd, out, 13);
	CHECK(drfs_rd_err(&rd) == 0 && out[12] == 13);

	/* raw */
	drfs_rd_init(&rd, p, 13);
	CHECK(drfs_rd_raw(&rd, 13) == p);
	CHECK(drfs_rd_raw(&rd, 0) == p + 13);
	CHECK(drfs_rd_raw(&rd, 1) == NULL);
	drfs_rd_init(&rd, p, 13);
	CHECK(drfs_rd_raw(&rd, SIZE_MAX) == NULL);
	CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);

	/* bytes: length over max, over the input, huge */
	struct drfs_buf b;
	drfs_buf_init(&b, 64);
	CHECK_EQ(drfs_buf_bytes(&b, "hello", 5), 0);
	uint8_t *c = malloc(b.len);
	memcpy(c, b.p, b.len);
	size_t l = 99;
	drfs_rd_init(&rd, c, b.len);
	const uint8_t *s = drfs_rd_bytes(&rd, 5, &l);
	CHECK(s == c + 1 && l == 5 && drfs_rd_left(&rd) == 0);
	drfs_rd_init(&rd, c, b.len);
	l = 99;
	CHECK(drfs_rd_bytes(&rd, 4, &l) == NULL);
	CHECK(drfs_rd_err(&rd) == -EBADMSG && l == 99);
	for (size_t n = 0; n < b.len; n++) {
		drfs_rd_init(&rd, c, n);
		CHECK(drfs_rd_bytes(&rd, 100, &l) == NULL);
		CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);
	}
	free(c);
	drfs_buf_reset(&b);
	CHECK_EQ(drfs_buf_uvarint(&b, UINT64_MAX), 0);
	drfs_rd_init(&rd, b.p, b.len);
	CHECK(drfs_rd_bytes(&rd, SIZE_MAX, &l) == NULL);
	CHECK_EQ(drfs_rd_err(&rd), -EBADMSG);
	drfs_buf_release(&b);

	/* random garbage through every reader never reads past the end */
	for (int i = 0; i < 20000; i++) {
		size_t n = test_rand() % 24;
		uint8_t *g = malloc(n ? n : 1);
		test_fill(g, n);
		drfs_rd_init(&rd, g, n);
		while (!drfs_rd_err(&rd)) {
			switch (test_rand() % 7) {
			case 0: drfs_rd_u8(&rd); break;
			case 1: drfs_rd_le32(&rd); break;
			case 2: drfs_rd_le64(&rd); break;
			case 3: drfs_rd_uvarint(&rd); break;
			case 4: drfs_rd_svarint(&rd); break;
			case 5: drfs_rd_bytes(&rd, 16, &l); break;
			case 6: drfs_rd_raw(&rd, test_rand() % 5); break;
			}
			CHECK(rd.off <= rd.len);
		}
		free(g);
	}
	free(p);
}

int main(void)
{
	test_init("test_buf");
	test_limits();
	test_varint();
	test_reader();
	return test_done("test_buf");
}
