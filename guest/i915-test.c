/*
 * i915-test: the gvtkit guest image's test program (static i386, runs as the
 * initramfs's only user program after i915.ko has bound).
 *
 * It opens /dev/dri/card0, asks i915 a few GETPARAMs, creates buffer objects,
 * fills them with GEM_PWRITE, submits small batches through
 * DRM_IOCTL_I915_GEM_EXECBUFFER2 (with relocations) on the render, blitter and
 * video engines, waits with GEM_WAIT and reads the results back with
 * GEM_PREAD. Then it drives the display through KMS (raw DRM_IOCTL_MODE_*
 * ioctls, no libdrm): it finds the connected connector and its preferred
 * mode, creates two dumb buffers with a pattern, lights a CRTC with SETCRTC
 * and page-flips between them with DRM_MODE_PAGE_FLIP_EVENT, waiting for each
 * flip-complete event. Every result is one `GVTKIT-GUEST: ...` line on stdout
 * (the serial console); scripts/guest/console.ts parses them.
 *
 * Facts used (ioctl numbers, struct layouts, flag values) are from Linux 6.1's
 * include/uapi/drm/drm.h, drm_mode.h, drm_fourcc.h and i915_drm.h; command encodings
 * (MI_STORE_DWORD_IMM, MI_BATCH_BUFFER_END, XY_SRC_COPY_BLT, XY_COLOR_BLT, Gen8+
 * layouts) are the ones lib/device/commands/ models. The code is our own.
 *
 * Exit status: 0 when every attempted batch was verified and every flip
 * completed, 1 when one failed, 2 when the device could not be opened or
 * queried.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

/* KMS (drm_mode.h). */
struct k_mode_card_res {
	uint64_t fb_id_ptr, crtc_id_ptr, connector_id_ptr, encoder_id_ptr;
	uint32_t count_fbs, count_crtcs, count_connectors, count_encoders;
	uint32_t min_width, max_width, min_height, max_height;
};

struct k_mode_modeinfo {
	uint32_t clock;
	uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
	uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
	uint32_t vrefresh;
	uint32_t flags;
	uint32_t type;
	char name[32];
};

struct k_mode_crtc {
	uint64_t set_connectors_ptr;
	uint32_t count_connectors;
	uint32_t crtc_id;
	uint32_t fb_id;
	uint32_t x, y;
	uint32_t gamma_size;
	uint32_t mode_valid;
	struct k_mode_modeinfo mode;
};

struct k_mode_get_encoder {
	uint32_t encoder_id, encoder_type, crtc_id, possible_crtcs, possible_clones;
};

struct k_mode_get_connector {
	uint64_t encoders_ptr, modes_ptr, props_ptr, prop_values_ptr;
	uint32_t count_modes, count_props, count_encoders;
	uint32_t encoder_id, connector_id, connector_type, connector_type_id;
	uint32_t connection, mm_width, mm_height, subpixel, pad;
};

struct k_mode_fb_cmd2 {
	uint32_t fb_id, width, height, pixel_format, flags;
	uint32_t handles[4], pitches[4], offsets[4];
	uint64_t modifier[4];
};

struct k_mode_crtc_page_flip {
	uint32_t crtc_id, fb_id, flags, reserved;
	uint64_t user_data;
};

struct k_mode_create_dumb {
	uint32_t height, width, bpp, flags;
	uint32_t handle, pitch;
	uint64_t size;
};

struct k_mode_destroy_dumb {
	uint32_t handle;
};

struct k_event_vblank {
	uint32_t type, length;
	uint64_t user_data;
	uint32_t tv_sec, tv_usec, sequence, crtc_id;
};

/* The uAPI layouts are fixed; i386 aligns __u64 to 4 bytes, so check sizes. */
_Static_assert(sizeof(struct k_mode_card_res) == 64, "drm_mode_card_res");
_Static_assert(sizeof(struct k_mode_modeinfo) == 68, "drm_mode_modeinfo");
_Static_assert(sizeof(struct k_mode_crtc) == 104, "drm_mode_crtc");
_Static_assert(sizeof(struct k_mode_get_encoder) == 20, "drm_mode_get_encoder");
_Static_assert(sizeof(struct k_mode_get_connector) == 80, "drm_mode_get_connector");
_Static_assert(sizeof(struct k_mode_fb_cmd2) == 100, "drm_mode_fb_cmd2");
_Static_assert(sizeof(struct k_mode_crtc_page_flip) == 24, "drm_mode_crtc_page_flip");
_Static_assert(sizeof(struct k_mode_create_dumb) == 32, "drm_mode_create_dumb");
_Static_assert(sizeof(struct k_event_vblank) == 32, "drm_event_vblank");
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
#define IOCTL_MODE_GETRESOURCES _IOWR(DRM_BASE, 0xa0, struct k_mode_card_res)
#define IOCTL_MODE_SETCRTC _IOWR(DRM_BASE, 0xa2, struct k_mode_crtc)
#define IOCTL_MODE_GETENCODER _IOWR(DRM_BASE, 0xa6, struct k_mode_get_encoder)
#define IOCTL_MODE_GETCONNECTOR _IOWR(DRM_BASE, 0xa7, struct k_mode_get_connector)
#define IOCTL_MODE_RMFB _IOWR(DRM_BASE, 0xaf, unsigned int)
#define IOCTL_MODE_PAGE_FLIP _IOWR(DRM_BASE, 0xb0, struct k_mode_crtc_page_flip)
#define IOCTL_MODE_CREATE_DUMB _IOWR(DRM_BASE, 0xb2, struct k_mode_create_dumb)
#define IOCTL_MODE_DESTROY_DUMB _IOWR(DRM_BASE, 0xb4, struct k_mode_destroy_dumb)
#define IOCTL_MODE_ADDFB2 _IOWR(DRM_BASE, 0xb8, struct k_mode_fb_cmd2)
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

#define MODE_CONNECTED 1
#define MODE_TYPE_PREFERRED (1u << 3)
#define MODE_PAGE_FLIP_EVENT 0x01u
#define EVENT_FLIP_COMPLETE 0x02u
/* DRM_FORMAT_XRGB8888: fourcc_code('X', 'R', '2', '4'). */
#define FORMAT_XRGB8888 0x34325258u

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

/* ---- display: KMS modeset and page flips --------------------------------- */

#define FLIPS 8
#define FLIP_TIMEOUT_MS 3000
#define MAX_IDS 16
#define MAX_MODES 64

static const char *connector_type_name(uint32_t t)
{
	switch (t) {
	case 10: return "DP";
	case 11: return "HDMI-A";
	case 14: return "eDP";
	case 1: return "VGA";
	default: return "other";
	}
}

/*
 * After a frame is on screen (SETCRTC done, a flip's event received) and its marker printed:
 * waits up to HOST_WAIT_MS for a line on stdin (the serial console). guest:test reads the plane
 * back through the vGPU when it sees the marker, then sends a newline, so the frame it reads is
 * the one the marker names; without a host answering, the program goes on after the timeout.
 */
#define HOST_WAIT_MS 10000
static void wait_host(void)
{
	struct pollfd pfd = { 0, POLLIN, 0 };
	char c;
	if (poll(&pfd, 1, HOST_WAIT_MS) <= 0 || !(pfd.revents & POLLIN))
		return;
	while (read(0, &c, 1) == 1 && c != '\n')
		;
}

/* Pixel (x, y) of frame buffer `n`: a border, eight colour bars (shifted by one in frame 1), a red (frame 0) or green (frame 1) ramp below. */
static uint32_t fb_pixel(unsigned n, unsigned x, unsigned y, unsigned w, unsigned h)
{
	static const uint32_t bars[8] = { 0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000 };
	if (x < 4 || y < 4 || x >= w - 4 || y >= h - 4)
		return n ? 0xff8000u : 0x0080ffu;
	if (y < h * 3 / 4)
		return bars[(x * 8 / w + n) & 7];
	return n ? (((x * 255 / w) << 8) | 0x200020u) : (((x * 255 / w) << 16) | 0x002020u);
}

/* Fills dumb buffer `handle` (pitch bytes a row) with frame `n`'s pattern through GEM_PWRITE. */
static int fb_fill(uint32_t handle, unsigned n, unsigned w, unsigned h, uint32_t pitch)
{
	static uint32_t rows[32 * 4096];
	const unsigned per = sizeof(rows) / (pitch ? pitch : 1);
	unsigned y0, y, x;
	if (pitch / 4 > sizeof(rows) / 4 || per == 0)
		return -1;
	for (y0 = 0; y0 < h; y0 += per) {
		unsigned n_rows = h - y0 < per ? h - y0 : per;
		struct k_gem_rw wr;
		for (y = 0; y < n_rows; y++)
			for (x = 0; x < pitch / 4; x++)
				rows[y * (pitch / 4) + x] = x < w ? fb_pixel(n, x, y0 + y, w, h) : 0;
		memset(&wr, 0, sizeof(wr));
		wr.handle = handle;
		wr.offset = (uint64_t)y0 * pitch;
		wr.size = (uint64_t)n_rows * pitch;
		wr.data_ptr = (uintptr_t)rows;
		if (xioctl(IOCTL_I915_GEM_PWRITE, &wr)) {
			report_errno("GEM_PWRITE", "display");
			return -1;
		}
	}
	return 0;
}

/*
 * Waits up to FLIP_TIMEOUT_MS for a flip-complete event carrying `cookie`; returns its vblank
 * sequence through `seq`, 0 on success.
 */
static int wait_flip(uint64_t cookie, uint32_t *seq, char *why, size_t whylen)
{
	double deadline = now_ms() + FLIP_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = { drm_fd, POLLIN, 0 };
		char buf[256];
		ssize_t len, at;
		int left = (int)(deadline - now_ms());
		if (left <= 0) {
			snprintf(why, whylen, "no flip-complete event within %d ms", FLIP_TIMEOUT_MS);
			return -1;
		}
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "poll errno=%d", errno);
			return -1;
		}
		if (!(pfd.revents & POLLIN))
			continue;
		len = read(drm_fd, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(why, whylen, "read errno=%d", errno);
			return -1;
		}
		for (at = 0; at + 8 <= len;) {
			struct k_event_vblank ev;
			uint32_t type, elen;
			memcpy(&type, buf + at, 4);
			memcpy(&elen, buf + at + 4, 4);
			if (elen < 8 || at + (ssize_t)elen > len)
				break;
			if (type == EVENT_FLIP_COMPLETE && elen >= sizeof(ev)) {
				memcpy(&ev, buf + at, sizeof(ev));
				if (ev.user_data == cookie) {
					*seq = ev.sequence;
					return 0;
				}
			}
			at += elen;
		}
	}
}

/*
 * Lights a CRTC on the first connected connector at its preferred mode with a frame buffer of
 * our own, then page-flips FLIPS times between two buffers, each flip's completion event
 * awaited. Returns 0 when the CRTC was lit and every flip completed, 1 otherwise; `flips_done`
 * counts the completed flips.
 */
static int display_test(unsigned *flips_done)
{
	static uint32_t conn_ids[MAX_IDS], crtc_ids[MAX_IDS], enc_ids[MAX_IDS], fb_ids_dummy[MAX_IDS];
	static struct k_mode_modeinfo modes[MAX_MODES];
	struct k_mode_card_res res;
	struct k_mode_get_connector conn;
	struct k_mode_get_encoder enc;
	struct k_mode_crtc crtc;
	struct k_mode_create_dumb dumb[2];
	struct k_mode_fb_cmd2 fbc;
	const struct k_mode_modeinfo *mode = NULL;
	uint32_t fb_ids[2] = { 0, 0 }, conn_id = 0, crtc_id = 0, enc_list[MAX_IDS];
	uint32_t last_seq = 0;
	unsigned i, k;
	char why[160];
	int ret = 1;

	*flips_done = 0;
	memset(dumb, 0, sizeof(dumb));
	memset(&res, 0, sizeof(res));
	res.fb_id_ptr = (uintptr_t)fb_ids_dummy;
	res.crtc_id_ptr = (uintptr_t)crtc_ids;
	res.connector_id_ptr = (uintptr_t)conn_ids;
	res.encoder_id_ptr = (uintptr_t)enc_ids;
	res.count_fbs = res.count_crtcs = res.count_connectors = res.count_encoders = MAX_IDS;
	if (xioctl(IOCTL_MODE_GETRESOURCES, &res)) {
		report_errno("MODE_GETRESOURCES", "display");
		printf(MARK "display FAIL MODE_GETRESOURCES errno=%d\n", errno);
		return 1;
	}
	printf(MARK "display resources crtcs %u connectors %u encoders %u\n", res.count_crtcs, res.count_connectors,
	       res.count_encoders);
	if (res.count_crtcs > MAX_IDS || res.count_connectors > MAX_IDS || res.count_encoders > MAX_IDS) {
		printf(MARK "display FAIL more than %d objects of a kind\n", MAX_IDS);
		return 1;
	}

	/* The first connected connector with modes; the probe runs on this call. */
	for (i = 0; i < res.count_connectors && !mode; i++) {
		uint32_t nmodes;
		memset(&conn, 0, sizeof(conn));
		conn.connector_id = conn_ids[i];
		if (xioctl(IOCTL_MODE_GETCONNECTOR, &conn)) {
			report_errno("MODE_GETCONNECTOR", "display");
			continue;
		}
		if (conn.connection != MODE_CONNECTED || conn.count_modes == 0)
			continue;
		nmodes = conn.count_modes < MAX_MODES ? conn.count_modes : MAX_MODES;
		if (conn.count_encoders > MAX_IDS)
			continue;
		memset(&conn, 0, sizeof(conn));
		conn.connector_id = conn_ids[i];
		conn.count_modes = nmodes;
		conn.modes_ptr = (uintptr_t)modes;
		conn.count_encoders = MAX_IDS;
		conn.encoders_ptr = (uintptr_t)enc_list;
		if (xioctl(IOCTL_MODE_GETCONNECTOR, &conn)) {
			report_errno("MODE_GETCONNECTOR", "display");
			continue;
		}
		nmodes = conn.count_modes < nmodes ? conn.count_modes : nmodes;
		if (nmodes == 0 || conn.count_encoders == 0)
			continue;
		mode = &modes[0];
		for (k = 0; k < nmodes; k++)
			if (modes[k].type & MODE_TYPE_PREFERRED) {
				mode = &modes[k];
				break;
			}
		conn_id = conn.connector_id;
		memset(&enc, 0, sizeof(enc));
		enc.encoder_id = conn.encoder_id ? conn.encoder_id : enc_list[0];
		if (xioctl(IOCTL_MODE_GETENCODER, &enc)) {
			report_errno("MODE_GETENCODER", "display");
			mode = NULL;
			continue;
		}
		crtc_id = enc.crtc_id;
		for (k = 0; !crtc_id && k < res.count_crtcs; k++)
			if (enc.possible_crtcs & (1u << k))
				crtc_id = crtc_ids[k];
		printf(MARK "display connector %u %s-%u connected %ux%u@%u %d mm x %d mm, %u modes, crtc %u\n", conn_id,
		       connector_type_name(conn.connector_type), conn.connector_type_id, mode->hdisplay, mode->vdisplay,
		       mode->vrefresh, conn.mm_width, conn.mm_height, nmodes, crtc_id);
	}
	if (!mode || !crtc_id) {
		printf(MARK "display FAIL no connected connector with a mode and a CRTC\n");
		return 1;
	}

	/* Two buffers, filled before they are pinned for scan-out (pwrite then goes through the CPU). */
	for (i = 0; i < 2; i++) {
		dumb[i].width = mode->hdisplay;
		dumb[i].height = mode->vdisplay;
		dumb[i].bpp = 32;
		if (xioctl(IOCTL_MODE_CREATE_DUMB, &dumb[i])) {
			report_errno("MODE_CREATE_DUMB", "display");
			printf(MARK "display FAIL MODE_CREATE_DUMB errno=%d\n", errno);
			goto out;
		}
		if (fb_fill(dumb[i].handle, i, mode->hdisplay, mode->vdisplay, dumb[i].pitch)) {
			printf(MARK "display FAIL filling buffer %u\n", i);
			goto out;
		}
		memset(&fbc, 0, sizeof(fbc));
		fbc.width = mode->hdisplay;
		fbc.height = mode->vdisplay;
		fbc.pixel_format = FORMAT_XRGB8888;
		fbc.handles[0] = dumb[i].handle;
		fbc.pitches[0] = dumb[i].pitch;
		if (xioctl(IOCTL_MODE_ADDFB2, &fbc)) {
			report_errno("MODE_ADDFB2", "display");
			printf(MARK "display FAIL MODE_ADDFB2 errno=%d\n", errno);
			goto out;
		}
		fb_ids[i] = fbc.fb_id;
	}

	memset(&crtc, 0, sizeof(crtc));
	crtc.crtc_id = crtc_id;
	crtc.fb_id = fb_ids[0];
	crtc.set_connectors_ptr = (uintptr_t)&conn_id;
	crtc.count_connectors = 1;
	crtc.mode = *mode;
	crtc.mode_valid = 1;
	{
		double t0 = now_ms();
		if (xioctl(IOCTL_MODE_SETCRTC, &crtc)) {
			report_errno("MODE_SETCRTC", "display");
			printf(MARK "display FAIL MODE_SETCRTC errno=%d\n", errno);
			goto out;
		}
		printf(MARK "display lit crtc %u %ux%u fb %u in %.0f ms\n", crtc_id, mode->hdisplay, mode->vdisplay, fb_ids[0],
		       now_ms() - t0);
		wait_host();
	}

	for (i = 1; i <= FLIPS; i++) {
		struct k_mode_crtc_page_flip flip;
		uint32_t seq = 0;
		double t0 = now_ms();
		memset(&flip, 0, sizeof(flip));
		flip.crtc_id = crtc_id;
		flip.fb_id = fb_ids[i & 1];
		flip.flags = MODE_PAGE_FLIP_EVENT;
		flip.user_data = 0xf1f00000u + i;
		if (xioctl(IOCTL_MODE_PAGE_FLIP, &flip)) {
			report_errno("MODE_PAGE_FLIP", "display");
			printf(MARK "flip %u FAIL MODE_PAGE_FLIP errno=%d\n", i, errno);
			break;
		}
		why[0] = 0;
		if (wait_flip(flip.user_data, &seq, why, sizeof(why))) {
			printf(MARK "flip %u FAIL %s\n", i, why);
			break;
		}
		if (i > 1 && seq <= last_seq) {
			printf(MARK "flip %u FAIL vblank sequence %u after %u\n", i, seq, last_seq);
			break;
		}
		last_seq = seq;
		(*flips_done)++;
		printf(MARK "flip %u done fb %u sequence %u in %.0f ms\n", i, flip.fb_id, seq, now_ms() - t0);
		wait_host();
	}
	printf(MARK "flips %u/%u completed\n", *flips_done, FLIPS);
	ret = *flips_done == FLIPS ? 0 : 1;
out:
	/* Closing the device would do the same; fbdev takes the CRTC back when the last user closes. */
	for (i = 0; i < 2; i++) {
		struct k_mode_destroy_dumb d = { dumb[i].handle };
		if (fb_ids[i] && xioctl(IOCTL_MODE_RMFB, &fb_ids[i]))
			report_errno("MODE_RMFB", "display");
		if (dumb[i].handle && xioctl(IOCTL_MODE_DESTROY_DUMB, &d))
			report_errno("MODE_DESTROY_DUMB", "display");
	}
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

	{
		unsigned flips = 0;
		int display_failed = display_test(&flips);
		close(drm_fd);
		return verified == attempted && !display_failed ? 0 : 1;
	}
}
