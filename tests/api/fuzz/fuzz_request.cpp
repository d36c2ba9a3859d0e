// libFuzzer target for the API's request path: raw bytes go through the
// Beast request parser with the server's limits, the Router and the handlers
// (against a real Host and dedup engine), and the response is serialized.
// Pipelined requests in one input are handled in order. VMs an input
// created are removed and the dedup knobs reset afterwards.
#include "vmm/api/api_context.hpp"
#include "vmm/api/router.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <sstream>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace foldvm;

namespace {

struct World {
    Host host;
    DedupService dedup{host, DedupMode::Builtin, dedup::DedupConfig{}};
    // Off: the fuzzer's VMs stay plain memory (no pager threads per input).
    OvercommitService overcommit{host, dedup, parse_overcommit_options("enabled=false")};
    api::ApiContext ctx{host, dedup, overcommit};
    api::Router router{ctx};
    World() { ctx.max_vms = 4; }
};

World* world = nullptr;

void serialize(const api::ApiResponse& r, unsigned version) {
    http::response<http::string_body> res;
    res.result(static_cast<unsigned>(r.status));
    res.version(version);
    if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers)
        res.set(k, v);
    res.body() = r.body;
    if (r.status != 204) res.prepare_payload();
    std::ostringstream out;
    out << res;
    if (out.str().empty()) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    world = new World; // lives for the whole run
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    size_t off = 0;
    while (off < size) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(api::kMaxBodyBytes);
        parser.header_limit(api::kMaxHeaderBytes);
        // Read like the server: the header alone first (async_read_header),
        // then the body eagerly (async_read sets eager). Beast asserts on some
        // bare-LF chunk lines when one eager put spans header and body, a
        // sequence the server never produces.
        parser.eager(false);
        beast::error_code ec;
        while (!parser.is_done()) {
            if (parser.is_header_done()) parser.eager(true);
            size_t n = parser.put(net::buffer(data + off, size - off), ec);
            off += n;
            if (ec == http::error::need_more)
                ec = {};
            else if (ec)
                break;
            if (parser.is_done()) break;
            if (n == 0 || off >= size) { // no progress: the input ends here
                parser.put_eof(ec);
                break;
            }
        }
        if (ec || !parser.is_done()) {
            // The server answers these with 400/413/431 and closes.
            serialize(api::error_response(400, "malformed HTTP request: " + ec.message()), 11);
            break;
        }
        auto req = parser.release();
        api::ApiRequest request;
        request.method = std::string_view(req.method_string().data(), req.method_string().size());
        request.target = std::string_view(req.target().data(), req.target().size());
        auto ct = req[http::field::content_type];
        request.content_type = std::string_view(ct.data(), ct.size());
        request.body = req.body();
        serialize(world->router.handle(request), req.version());
        if (!req.keep_alive()) break;
    }
    for (auto& [id, vm] : world->host.vms())
        world->host.remove_vm(id);
    if (world->dedup.builtin())
        world->dedup.update_knobs([](dedup::DedupConfig& c) { c = dedup::DedupConfig{}; });
    return 0;
}
