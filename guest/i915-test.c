/*
 * i915-test: the gvtkit guest image's test program (static i386, runs as the
 * initramfs's only user program after i915.ko has bound).
 *
 * It opens /dev/dri/card0, asks i915 a few GETPARAMs, creates buffer objects,
 * fills them with GEM_PWRITE, submits small batches through
 * DRM_IOCTL_I915_GEM_EXECBUFFER2 (with relocations) on the render, blitter and
 * video engines, waits with GEM_WAIT and reads the results back with
 * GEM_PREAD. Every result is one `GVTKIT-GUEST: ...` line on stdout (the
 * serial console); scripts/guest/console.ts parses them.
 *
 * Facts used (ioctl numbers, struct layouts, flag values) are from Linux 6.1's
 * include/uapi/drm/drm.h and include/uapi/drm/i915_drm.h; command encodings
 * (MI_STORE_DWORD_IMM, MI_BATCH_BUFFER_END, XY_SRC_COPY_BLT, XY_COLOR_BLT, Gen8+
 * layouts) are the ones lib/device/commands/ models. The code is our own.
 *
 * Exit status: 0 when every attempted batch was verified, 1 when one failed,
 * 2 when the device could not be opened or queried.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MARK "GVTKIT-GUEST: "

/* ---- uAPI facts (Linux 6.1 include/uapi/drm/drm.h, i915_drm.h) ---------- */

struct k_drm_version {
	int major, minor, patchlevel;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};

struct k_gem_close {
	uint32_t handle;
	uint32_t pad;
};

struct k_getparam {
	int32_t param;
	int *value;
};

struct k_gem_create {
	uint64_t size;
	uint32_t handle;
	uint32_t pad;
};

/* drm_i915_gem_pread and drm_i915_gem_pwrite share this layout. */
struct k_gem_rw {
	uint32_t handle;
	uint32_t pad;
	uint64_t offset;
	uint64_t size;
	uint64_t data_ptr;
};

struct k_reloc {
	uint32_t target_handle;
	uint32_t delta;
	uint64_t offset;
	uint64_t presumed_offset;
	uint32_t read_domains;
	uint32_t write_domain;
};

struct k_exec_object2 {
	uint32_t handle;
	uint32_t relocation_count;
	uint64_t relocs_ptr;
	uint64_t alignment;
	uint64_t offset;
	uint64_t flags;
	uint64_t rsvd1;
	uint64_t rsvd2;
};

struct k_execbuffer2 {
	uint64_t buffers_ptr;
	uint32_t buffer_count;
	uint32_t batch_start_offset;
	uint32_t batch_len;
	uint32_t dr1;
	uint32_t dr4;
	uint32_t num_cliprects;
	uint64_t cliprects_ptr;
	uint64_t flags;
	uint64_t rsvd1;
	uint64_t rsvd2;
};

struct k_gem_wait {
	uint32_t bo_handle;
	uint32_t flags;
	int64_t timeout_ns;
};

/* The uAPI layouts are fixed; i386 aligns __u64 to 4 bytes, so check sizes. */
_Static_assert(sizeof(struct k_gem_create) == 16, "drm_i915_gem_create");
_Static_assert(sizeof(struct k_gem_rw) == 32, "drm_i915_gem_pread/pwrite");
_Static_assert(sizeof(struct k_reloc) == 32, "drm_i915_gem_relocation_entry");
_Static_assert(sizeof(struct k_exec_object2) == 56, "drm_i915_gem_exec_object2");
_Static_assert(sizeof(struct k_execbuffer2) == 64, "drm_i915_gem_execbuffer2");
_Static_assert(sizeof(struct k_gem_wait) == 16, "drm_i915_gem_wait");
_Static_assert(offsetof(struct k_execbuffer2, flags) == 40, "execbuffer2.flags");

#define DRM_BASE 'd'
#define DRM_CMD(nr) (0x40 + (nr))
#define IOCTL_VERSION _IOWR(DRM_BASE, 0x00, struct k_drm_version)
#define IOCTL_GEM_CLOSE _IOW(DRM_BASE, 0x09, struct k_gem_close)
#define IOCTL_I915_GETPARAM _IOWR(DRM_BASE, DRM_CMD(0x06), struct k_getparam)
#define IOCTL_I915_GEM_CREATE _IOWR(DRM_BASE, DRM_CMD(0x1b), struct k_gem_create)
#define IOCTL_I915_GEM_PREAD _IOW(DRM_BASE, DRM_CMD(0x1c), struct k_gem_rw)
#define IOCTL_I915_GEM_PWRITE _IOW(DRM_BASE, DRM_CMD(0x1d), struct k_gem_rw)
#define IOCTL_I915_GEM_EXECBUFFER2 _IOW(DRM_BASE, DRM_CMD(0x29), struct k_execbuffer2)
#define IOCTL_I915_GEM_WAIT _IOWR(DRM_BASE, DRM_CMD(0x2c), struct k_gem_wait)

#define PARAM_CHIPSET_ID 4
#define PARAM_HAS_BSD 10
#define PARAM_HAS_BLT 11
#define PARAM_HAS_LLC 17
#define PARAM_HAS_VEBOX 22
#define PARAM_CMD_PARSER_VERSION 28
#define PARAM_REVISION 32
#define PARAM_EU_TOTAL 34
#define PARAM_HAS_EXEC_SOFTPIN 37
#define PARAM_HAS_SCHEDULER 41

#define EXEC_RENDER 1
#define EXEC_BSD 2
#define EXEC_BLT 3
#define EXEC_VEBOX 4

#define DOMAIN_RENDER 0x02

/* ---- command encodings (Gen8+; see lib/device/commands/) ---------------- */

#define MI_NOOP 0x00000000u
#define MI_BATCH_BUFFER_END (0x0au << 23)
/* MI_STORE_DWORD_IMM, 64-bit address form: 4 dwords, bit 22 (GGTT) clear. */
#define MI_STORE_DWORD_IMM_GEN8 ((0x20u << 23) | 2u)
/* 2D client (2 << 29), opcode in 28:22, write alpha (21) and RGB (20). */
#define BLT_WRITE_ARGB ((1u << 21) | (1u << 20))
#define XY_COLOR_BLT ((2u << 29) | (0x50u << 22) | BLT_WRITE_ARGB | (7u - 2u))
#define XY_SRC_COPY_BLT ((2u << 29) | (0x53u << 22) | BLT_WRITE_ARGB | (10u - 2u))
/* BR13: colour depth 32 bpp in 25:24, raster operation in 23:16, pitch 15:0. */
#define BR13_32BPP (3u << 24)
#define ROP_SRCCOPY 0xccu
#define ROP_PATCOPY 0xf0u

/* ---- helpers ------------------------------------------------------------ */

static int drm_fd = -1;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ioctl, restarted on EINTR/EAGAIN as libdrm's drmIoctl does. */
static int xioctl(unsigned long request, void *arg)
{
	int ret;
	do {
		ret = ioctl(drm_fd, request, arg);
	} while (ret == -1 && (errno == EINTR || errno == EAGAIN));
	return ret;
}

/* One line per failing call: which call, errno and its name. */
static void report_errno(const char *call, const char *batch)
{
	int e = errno;
	if (batch)
		printf(MARK "error %s (batch %s) errno=%d (%s)\n", call, batch, e, strerror(e));
	else
		printf(MARK "error %s errno=%d (%s)\n", call, e, strerror(e));
	errno = e;
}

static uint32_t bo_create(uint64_t size, const char *batch)
{
	struct k_gem_create c;
	memset(&c, 0, sizeof(c));
	c.size = size;
	if (xioctl(IOCTL_I915_GEM_CREATE, &c)) {
		report_errno("GEM_CREATE", batch);
		return 0;
	}
	return c.handle;
}

static void bo_close(uint32_t handle)
{
	struct k_gem_close c = { handle, 0 };
	if (handle && xioctl(IOCTL_GEM_CLOSE, &c))
		report_errno("GEM_CLOSE", NULL);
}

static int bo_write(uint32_t handle, const void *data, uint32_t size, const char *batch)
{
	struct k_gem_rw w;
	memset(&w, 0, sizeof(w));
	w.handle = handle;
	w.size = size;
	w.data_ptr = (uintptr_t)data;
	if (xioctl(IOCTL_I915_GEM_PWRITE, &w)) {
		report_errno("GEM_PWRITE", batch);
		return -1;
	}
	return 0;
}

static int bo_read(uint32_t handle, void *data, uint32_t size, const char *batch)
{
	struct k_gem_rw r;
	memset(&r, 0, sizeof(r));
	r.handle = handle;
	r.size = size;
	r.data_ptr = (uintptr_t)data;
	if (xioctl(IOCTL_I915_GEM_PREAD, &r)) {
		report_errno("GEM_PREAD", batch);
		return -1;
	}
	return 0;
}

/* Waits for the object to go idle; returns 0, or -1 with `why` filled. */
static int bo_wait(uint32_t handle, int64_t timeout_ns, const char *batch, char *why, size_t whylen)
{
	struct k_gem_wait w;
	memset(&w, 0, sizeof(w));
	w.bo_handle = handle;
	w.timeout_ns = timeout_ns;
	if (ioctl(drm_fd, IOCTL_I915_GEM_WAIT, &w) == 0)
		return 0;
	if (errno == ETIME) {
		snprintf(why, whylen, "GEM_WAIT timed out after %lld ms", (long long)(timeout_ns / 1000000));
		return -1;
	}
	report_errno("GEM_WAIT", batch);
	snprintf(why, whylen, "GEM_WAIT errno=%d", errno);
	return -1;
}

static int get_param(int param, int *value)
{
	struct k_getparam gp;
	gp.param = param;
	gp.value = value;
	return xioctl(IOCTL_I915_GETPARAM, &gp);
}

/* ---- batches ------------------------------------------------------------ */

#define BO_SIZE 4096u
#define WAIT_NS (30LL * 1000 * 1000 * 1000)

/*
 * A batch under construction: dwords, and the relocations that patch the
 * 64-bit addresses in it (each relocation names a target BO and a delta).
 */
struct batch {
	uint32_t dw[256];
	unsigned len;
	struct k_reloc relocs[16];
	unsigned nrelocs;
};

static void emit(struct batch *b, uint32_t v)
{
	b->dw[b->len++] = v;
}

/* Emits a 64-bit graphics address of `target` + `delta`, patched by i915. */
static void emit_address(struct batch *b, uint32_t target, uint32_t delta)
{
	struct k_reloc *r = &b->relocs[b->nrelocs++];
	memset(r, 0, sizeof(*r));
	r->target_handle = target;
	r->delta = delta;
	r->offset = b->len * 4u;
	/* presumed 0: the address written below is 0 + delta, so i915 rewrites it
	 * unless the target really lies at 0, where the written value is right. */
	r->presumed_offset = 0;
	r->read_domains = DOMAIN_RENDER;
	r->write_domain = DOMAIN_RENDER;
	emit(b, delta);
	emit(b, 0);
}

static void end_batch(struct batch *b)
{
	emit(b, MI_BATCH_BUFFER_END);
	if (b->len & 1)
		emit(b, MI_NOOP); /* batch_len in whole qwords */
}

/*
 * Submits `b` on `ring` with `targets` (the BOs it writes or reads) and waits
 * for the batch BO. Returns 0, or -1 with `why` filled.
 */
static int submit(const char *name, struct batch *b, uint32_t ring, const uint32_t *targets, unsigned ntargets,
		  char *why, size_t whylen)
{
	struct k_exec_object2 objs[8];
	struct k_execbuffer2 eb;
	uint32_t batch_bo;
	unsigned i;
	int ret = -1;

	batch_bo = bo_create(BO_SIZE, name);
	if (!batch_bo) {
		snprintf(why, whylen, "GEM_CREATE batch errno=%d", errno);
		return -1;
	}
	if (bo_write(batch_bo, b->dw, b->len * 4u, name)) {
		snprintf(why, whylen, "GEM_PWRITE batch errno=%d", errno);
		goto out;
	}
	memset(objs, 0, sizeof(objs));
	for (i = 0; i < ntargets; i++)
		objs[i].handle = targets[i];
	objs[ntargets].handle = batch_bo; /* the batch is the last object */
	objs[ntargets].relocation_count = b->nrelocs;
	objs[ntargets].relocs_ptr = (uintptr_t)b->relocs;

	memset(&eb, 0, sizeof(eb));
	eb.buffers_ptr = (uintptr_t)objs;
	eb.buffer_count = ntargets + 1;
	eb.batch_start_offset = 0;
	eb.batch_len = b->len * 4u;
	eb.flags = ring;
	double t0 = now_ms();
	if (xioctl(IOCTL_I915_GEM_EXECBUFFER2, &eb)) {
		report_errno("GEM_EXECBUFFER2", name);
		snprintf(why, whylen, "GEM_EXECBUFFER2 errno=%d (%s)", errno, strerror(errno));
		goto out;
	}
	if (bo_wait(batch_bo, WAIT_NS, name, why, whylen))
		goto out;
	printf(MARK "batch %s completed in %.0f ms\n", name, now_ms() - t0);
	ret = 0;
out:
	bo_close(batch_bo);
	return ret;
}

#define FILLER 0x5a5a5a5au

/*
 * MI_STORE_DWORD_IMM of known values at several offsets of one target BO on
 * `ring`; every other dword must keep the filler.
 */
static int batch_store(const char *name, uint32_t ring, char *why, size_t whylen)
{
	static const uint32_t offsets[] = { 0, 4, 64, 1020, 2048, 4092 };
	const unsigned n = sizeof(offsets) / sizeof(offsets[0]);
	static uint32_t data[BO_SIZE / 4];
	struct batch b;
	uint32_t target;
	unsigned i, k;
	int ret = -1;

	target = bo_create(BO_SIZE, name);
	if (!target) {
		snprintf(why, whylen, "GEM_CREATE target errno=%d", errno);
		return -1;
	}
	for (i = 0; i < BO_SIZE / 4; i++)
		data[i] = FILLER;
	if (bo_write(target, data, BO_SIZE, name)) {
		snprintf(why, whylen, "GEM_PWRITE target errno=%d", errno);
		goto out;
	}
	memset(&b, 0, sizeof(b));
	for (k = 0; k < n; k++) {
		emit(&b, MI_STORE_DWORD_IMM_GEN8);
		emit_address(&b, target, offsets[k]);
		emit(&b, 0xc0de0000u | (ring << 8) | k);
	}
	end_batch(&b);
	if (submit(name, &b, ring, &target, 1, why, whylen))
		goto out;
	memset(data, 0, sizeof(data));
	if (bo_read(target, data, BO_SIZE, name)) {
		snprintf(why, whylen, "GEM_PREAD errno=%d", errno);
		goto out;
	}
	for (i = 0; i < BO_SIZE / 4; i++) {
		uint32_t want = FILLER;
		for (k = 0; k < n; k++)
			if (offsets[k] == i * 4)
				want = 0xc0de0000u | (ring << 8) | k;
		if (data[i] != want) {
			snprintf(why, whylen, "offset 0x%x holds 0x%08x, expected 0x%08x", i * 4, data[i], want);
			goto out;
		}
	}
	ret = 0;
out:
	bo_close(target);
	return ret;
}

/* Surfaces of the blits: 64 x 16 pixels of 32 bpp, pitch 256 bytes (4 KiB). */
#define SURF_W 64u
#define SURF_H 16u
#define SURF_PITCH (SURF_W * 4u)

static uint32_t pattern(unsigned x, unsigned y)
{
	return 0xa0000000u | (y << 16) | (x << 8) | ((x * 7 + y * 13) & 0xff);
}

/*
 * XY_SRC_COPY_BLT on the blitter: a 32 x 8 rectangle at (8, 2) of a patterned
 * source lands at (16, 4) of a destination; the rest of the destination keeps
 * its filler.
 */
static int batch_blt_copy(const char *name, char *why, size_t whylen)
{
	static uint32_t src_data[BO_SIZE / 4], dst_data[BO_SIZE / 4];
	const unsigned sx = 8, sy = 2, dx = 16, dy = 4, w = 32, h = 8;
	uint32_t bos[2] = { 0, 0 };
	struct batch b;
	unsigned x, y;
	int ret = -1;

	bos[0] = bo_create(BO_SIZE, name); /* source */
	bos[1] = bo_create(BO_SIZE, name); /* destination */
	if (!bos[0] || !bos[1]) {
		snprintf(why, whylen, "GEM_CREATE errno=%d", errno);
		goto out;
	}
	for (y = 0; y < SURF_H; y++)
		for (x = 0; x < SURF_W; x++) {
			src_data[y * SURF_W + x] = pattern(x, y);
			dst_data[y * SURF_W + x] = FILLER;
		}
	if (bo_write(bos[0], src_data, BO_SIZE, name) || bo_write(bos[1], dst_data, BO_SIZE, name)) {
		snprintf(why, whylen, "GEM_PWRITE errno=%d", errno);
		goto out;
	}
	memset(&b, 0, sizeof(b));
	emit(&b, XY_SRC_COPY_BLT);
	emit(&b, BR13_32BPP | (ROP_SRCCOPY << 16) | SURF_PITCH);
	emit(&b, (dy << 16) | dx);
	emit(&b, ((dy + h) << 16) | (dx + w));
	emit_address(&b, bos[1], 0);
	emit(&b, (sy << 16) | sx);
	emit(&b, SURF_PITCH);
	emit_address(&b, bos[0], 0);
	end_batch(&b);
	/* The source is only read: its relocation has no write domain. */
	b.relocs[1].write_domain = 0;
	if (submit(name, &b, EXEC_BLT, bos, 2, why, whylen))
		goto out;
	memset(dst_data, 0, sizeof(dst_data));
	if (bo_read(bos[1], dst_data, BO_SIZE, name)) {
		snprintf(why, whylen, "GEM_PREAD errno=%d", errno);
		goto out;
	}
	for (y = 0; y < SURF_H; y++)
		for (x = 0; x < SURF_W; x++) {
			int inside = x >= dx && x < dx + w && y >= dy && y < dy + h;
			uint32_t want = inside ? pattern(x - dx + sx, y - dy + sy) : FILLER;
			uint32_t got = dst_data[y * SURF_W + x];
			if (got != want) {
				snprintf(why, whylen, "pixel (%u,%u) holds 0x%08x, expected 0x%08x", x, y, got, want);
				goto out;
			}
		}
	ret = 0;
out:
	bo_close(bos[0]);
	bo_close(bos[1]);
	return ret;
}

/* XY_COLOR_BLT on the blitter: a 40 x 5 rectangle at (3, 6) is filled. */
static int batch_blt_fill(const char *name, char *why, size_t whylen)
{
	static uint32_t data[BO_SIZE / 4];
	const unsigned dx = 3, dy = 6, w = 40, h = 5;
	const uint32_t color = 0x00c0ffeeu;
	struct batch b;
	uint32_t target;
	unsigned x, y;
	int ret = -1;

	target = bo_create(BO_SIZE, name);
	if (!target) {
		snprintf(why, whylen, "GEM_CREATE errno=%d", errno);
		return -1;
	}
	for (x = 0; x < BO_SIZE / 4; x++)
		data[x] = FILLER;
	if (bo_write(target, data, BO_SIZE, name)) {
		snprintf(why, whylen, "GEM_PWRITE errno=%d", errno);
		goto out;
	}
	memset(&b, 0, sizeof(b));
	emit(&b, XY_COLOR_BLT);
	emit(&b, BR13_32BPP | (ROP_PATCOPY << 16) | SURF_PITCH);
	emit(&b, (dy << 16) | dx);
	emit(&b, ((dy + h) << 16) | (dx + w));
	emit_address(&b, target, 0);
	emit(&b, color);
	end_batch(&b);
	if (submit(name, &b, EXEC_BLT, &target, 1, why, whylen))
		goto out;
	memset(data, 0, sizeof(data));
	if (bo_read(target, data, BO_SIZE, name)) {
		snprintf(why, whylen, "GEM_PREAD errno=%d", errno);
		goto out;
	}
	for (y = 0; y < SURF_H; y++)
		for (x = 0; x < SURF_W; x++) {
			int inside = x >= dx && x < dx + w && y >= dy && y < dy + h;
			uint32_t want = inside ? color : FILLER;
			uint32_t got = data[y * SURF_W + x];
			if (got != want) {
				snprintf(why, whylen, "pixel (%u,%u) holds 0x%08x, expected 0x%08x", x, y, got, want);
				goto out;
			}
		}
	ret = 0;
out:
	bo_close(target);
	return ret;
}

/* ---- main --------------------------------------------------------------- */

static const struct {
	int id;
	const char *name;
	int hex;
} params[] = {
	{ PARAM_CHIPSET_ID, "chipset_id", 1 },
	{ PARAM_REVISION, "revision", 0 },
	{ PARAM_HAS_BLT, "has_blt", 0 },
	{ PARAM_HAS_BSD, "has_bsd", 0 },
	{ PARAM_HAS_VEBOX, "has_vebox", 0 },
	{ PARAM_HAS_LLC, "has_llc", 0 },
	{ PARAM_EU_TOTAL, "eu_total", 0 },
	{ PARAM_HAS_EXEC_SOFTPIN, "has_exec_softpin", 0 },
	{ PARAM_HAS_SCHEDULER, "has_scheduler", 1 },
	{ PARAM_CMD_PARSER_VERSION, "cmd_parser_version", 0 },
};

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/dri/card0";
	char name[32] = "", date[32] = "", desc[96] = "";
	struct k_drm_version v;
	int has_blt = 1, has_bsd = 0, has_vebox = 0;
	unsigned attempted = 0, verified = 0, i;
	char why[160];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf(MARK "test start device %s\n", path);

	drm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (drm_fd < 0) {
		report_errno("open", NULL);
		printf(MARK "device missing %s\n", path);
		printf(MARK "batches 0/0 verified\n");
		return 2;
	}

	memset(&v, 0, sizeof(v));
	v.name = name;
	v.name_len = sizeof(name) - 1;
	v.date = date;
	v.date_len = sizeof(date) - 1;
	v.desc = desc;
	v.desc_len = sizeof(desc) - 1;
	if (xioctl(IOCTL_VERSION, &v)) {
		report_errno("DRM_IOCTL_VERSION", NULL);
		printf(MARK "batches 0/0 verified\n");
		return 2;
	}
	printf(MARK "driver %s %d.%d.%d %s\n", name, v.major, v.minor, v.patchlevel, date);

	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		int value = 0;
		if (get_param(params[i].id, &value)) {
			printf(MARK "param %s FAIL errno=%d (%s)\n", params[i].name, errno, strerror(errno));
			continue;
		}
		if (params[i].hex)
			printf(MARK "param %s 0x%x\n", params[i].name, (unsigned)value);
		else
			printf(MARK "param %s %d\n", params[i].name, value);
		if (params[i].id == PARAM_HAS_BLT)
			has_blt = value;
		if (params[i].id == PARAM_HAS_BSD)
			has_bsd = value;
		if (params[i].id == PARAM_HAS_VEBOX)
			has_vebox = value;
	}

#define RUN(label, call)                                                              \
	do {                                                                          \
		attempted++;                                                          \
		why[0] = 0;                                                           \
		if ((call) == 0) {                                                    \
			verified++;                                                   \
			printf(MARK "batch %s ok\n", label);                          \
		} else {                                                              \
			printf(MARK "batch %s FAIL %s\n", label, why[0] ? why : "?"); \
		}                                                                     \
	} while (0)

	RUN("render-store", batch_store("render-store", EXEC_RENDER, why, sizeof(why)));
	if (has_blt) {
		RUN("blt-copy", batch_blt_copy("blt-copy", why, sizeof(why)));
		RUN("blt-fill", batch_blt_fill("blt-fill", why, sizeof(why)));
	} else {
		printf(MARK "batch blt-copy skip no blitter engine\n");
		printf(MARK "batch blt-fill skip no blitter engine\n");
	}
	if (has_bsd)
		RUN("video-store", batch_store("video-store", EXEC_BSD, why, sizeof(why)));
	else
		printf(MARK "batch video-store skip no video engine\n");
	if (has_vebox)
		RUN("vebox-store", batch_store("vebox-store", EXEC_VEBOX, why, sizeof(why)));
	else
		printf(MARK "batch vebox-store skip no video enhancement engine\n");

	printf(MARK "batches %u/%u verified\n", verified, attempted);
	close(drm_fd);
	return verified == attempted ? 0 : 1;
}
