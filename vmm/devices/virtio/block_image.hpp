// The file behind a virtio-blk drive: a raw image (regular file or block
// device) opened read-write or read-only, with whole-length vectored reads
// and writes. The image is flock()ed, exclusively when writable, so two
// drives (in this or another process) never write one image at once.
#pragma once

#include "common/unique_fd.hpp"
#include "vmm/abi/virtio_abi.h"

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>

namespace foldvm {

constexpr uint64_t kSectorSize = VIRTIO_BLK_SECTOR_SIZE;

class BlockImage {
  public:
    // Throws InvalidInput when the image cannot be opened in the wanted mode,
    // is neither a regular file nor a block device, is not a whole number of
    // 512-byte sectors, or is locked by another drive.
    BlockImage(const std::string& path, bool read_only);

    const std::string& path() const { return path_; }
    bool read_only() const { return read_only_; }
    uint64_t size() const { return size_; }

    // Transfer all of `iov` at byte `offset`, retrying short transfers.
    // Return the bytes transferred: less than asked on an I/O error or
    // when the file ended early (it shrank underneath the drive).
    uint64_t read(std::span<const iovec> iov, uint64_t offset);
    uint64_t write(std::span<const iovec> iov, uint64_t offset);
    // fdatasync(); false on failure.
    bool flush();

  private:
    uint64_t transfer(bool write, std::span<const iovec> iov, uint64_t offset);

    std::string path_;
    bool read_only_;
    UniqueFd fd_;
    uint64_t size_ = 0;
};

} // namespace foldvm
