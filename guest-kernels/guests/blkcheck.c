/* A virtio-blk driver that checks the drives the monitor gives it, through
 * the real transport (trapped MMIO, rings in guest RAM). For each drive it
 * prints the serial (GET_ID), capacity and read-only flag and the first line
 * of sector 0; writes two sectors of text at `write_sector` from two buffers,
 * flushes and reads them back (a read-only drive must refuse the write with
 * IOERR); and reads one sector past the end (IOERR).
 *
 *   drives=N (1)   write_sector=S (1)   tag=STR (none)
 *
 * Prints "blkcheck: ok drives=N" and exits 0; exits 2 if a drive is missing
 * and 3 if anything else is not as the virtio-blk spec says. */
#include "rt.h"
#include "virtio.h"

#define SECTOR VIRTIO_BLK_SECTOR_SIZE
#define QSIZE 16u

struct outhdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

static struct rt_virtio_dev dev;
static struct rt_vq vq;
static struct outhdr *hdr;      /* in the control page */
static volatile uint8_t *status; /* in the control page */
static char *ctl;               /* control page: GET_ID buffer from 128 */
static char *data;              /* two pages */
static int failures;

static void check(int ok, unsigned drive, const char *what)
{
    if (ok)
        return;
    rt_printf("blkcheck: drive%u FAILED: %s\n", drive, what);
    failures++;
}

static uint64_t gpa(const volatile void *p)
{
    return (uint64_t)(uintptr_t)p;
}

/* One request with `len` data bytes at `buf` (split over two buffers when
 * it is large enough); returns the status byte, or -1 on timeout. */
static int request(uint32_t type, uint64_t sector, void *buf, uint32_t len, int to_device)
{
    struct rt_vq_buf b[4];
    unsigned n = 0;
    hdr->type = type;
    hdr->ioprio = 0;
    hdr->sector = sector;
    *status = 0xff;
    b[n++] = (struct rt_vq_buf){gpa(hdr), sizeof *hdr};
    if (len >= 2 * SECTOR) {
        b[n++] = (struct rt_vq_buf){gpa(buf), len / 2};
        b[n++] = (struct rt_vq_buf){gpa(buf) + len / 2, len - len / 2};
    } else if (len) {
        b[n++] = (struct rt_vq_buf){gpa(buf), len};
    }
    unsigned n_out = to_device ? n : 1; /* the header, plus data for OUT */
    b[n++] = (struct rt_vq_buf){gpa(status), 1};
    if (rt_vq_add(&vq, b, n_out, n - n_out) < 0)
        return -1;
    rt_vq_kick(&vq);
    if (rt_vq_wait_used(&vq, NULL, RT_NS_PER_SEC) < 0)
        return -1;
    return *status;
}

static int check_drive(unsigned i, uint64_t write_sector, const char *tag)
{
    if (rt_virtio_find(VIRTIO_ID_BLOCK, i, &dev) != 0) {
        rt_printf("blkcheck: no virtio-blk device %u\n", i);
        return -1;
    }
    uint64_t wanted =
        VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;
    if (rt_virtio_negotiate(&dev, wanted) != 0 ||
        rt_vq_init(&dev, &vq, 0, QSIZE) != 0) {
        rt_printf("blkcheck: drive%u refused the handshake\n", i);
        return -1;
    }
    rt_virtio_driver_ok(&dev);
    uint64_t capacity = rt_virtio_config_read32(&dev, 0) |
                        (uint64_t)rt_virtio_config_read32(&dev, 4) << 32;
    int ro = (dev.features & VIRTIO_BLK_F_RO) != 0;
    check(rt_virtio_config_read32(&dev, 20) == SECTOR, i, "blk_size");
    check(rt_virtio_config_read32(&dev, 12) >= 2, i, "seg_max");

    char *id = ctl + 128;
    memset(id, 0, 21);
    check(request(VIRTIO_BLK_T_GET_ID, 0, id, 20, 0) == VIRTIO_BLK_S_OK, i, "GET_ID");
    rt_printf("blkcheck: drive%u id=%s capacity=%llu ro=%d\n", i, id,
              (unsigned long long)capacity, ro);

    check(request(VIRTIO_BLK_T_IN, 0, data, SECTOR, 0) == VIRTIO_BLK_S_OK, i, "read sector 0");
    size_t n = 0;
    while (n < 64 && data[n] && data[n] != '\n')
        n++;
    data[n] = 0;
    rt_printf("blkcheck: drive%u first line: %s\n", i, data);

    if (write_sector + 2 <= capacity) {
        memset(data, 0, 2 * SECTOR);
        rt_snprintf(data, SECTOR, "blkcheck wrote sector %llu tag=%s\n",
                    (unsigned long long)write_sector, tag);
        rt_snprintf(data + SECTOR, SECTOR, "blkcheck second sector tag=%s\n", tag);
        int st = request(VIRTIO_BLK_T_OUT, write_sector, data, 2 * SECTOR, 1);
        if (ro) {
            check(st == VIRTIO_BLK_S_IOERR, i, "read-only drive took a write");
            rt_printf("blkcheck: drive%u write refused status=%d\n", i, st);
        } else {
            check(st == VIRTIO_BLK_S_OK, i, "write");
            check(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0) == VIRTIO_BLK_S_OK, i, "flush");
            char *back = data + 2 * SECTOR;
            memset(back, 0, 2 * SECTOR);
            check(request(VIRTIO_BLK_T_IN, write_sector, back, 2 * SECTOR, 0) == VIRTIO_BLK_S_OK,
                  i, "read back");
            check(memcmp(back, data, 2 * SECTOR) == 0, i, "read back differs");
            rt_printf("blkcheck: drive%u wrote sectors %llu-%llu\n", i,
                      (unsigned long long)write_sector, (unsigned long long)write_sector + 1);
        }
    }
    check(request(VIRTIO_BLK_T_IN, capacity, data, SECTOR, 0) == VIRTIO_BLK_S_IOERR, i,
          "read past the end");
    check(!(rt_virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), i, "device needs reset");
    return 0;
}

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)bi;
    (void)cmdline;
    unsigned drives = (unsigned)rt_arg_u64("drives", 1);
    uint64_t write_sector = rt_arg_u64("write_sector", 1);
    char tag[32] = "";
    rt_arg_str("tag", tag, sizeof tag);
    ctl = rt_alloc_pages(1);
    data = rt_alloc_pages(2);
    if (!ctl || !data) {
        rt_puts("blkcheck: out of memory");
        return 3;
    }
    hdr = (struct outhdr *)ctl;
    status = (volatile uint8_t *)(ctl + 64);
    for (unsigned i = 0; i < drives; i++)
        if (check_drive(i, write_sector, tag) != 0)
            return 2;
    if (failures)
        return 3;
    rt_printf("blkcheck: ok drives=%u\n", drives);
    return 0;
}
