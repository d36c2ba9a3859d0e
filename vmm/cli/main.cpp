// foldvm command-line entry point. The only place that turns exceptions into
// exit codes.
#include "run_command.hpp"
#include "serve_command.hpp"

#include "common/error.hpp"
#include "vmm/config/schema.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/version.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
    CLI::App app{"foldvm: a KVM monitor for unikernel microVMs with built-in page dedup", "foldvm"};
    app.set_version_flag("--version", std::string("foldvm ") + foldvm::kVersion);
    app.require_subcommand(1);

    foldvm::cli::RunOptions run;
    int status = 0;
    foldvm::cli::add_run_command(app, run, status);
    foldvm::cli::ServeOptions serve;
    foldvm::cli::add_serve_command(app, serve, status);

    auto* caps = app.add_subcommand("caps", "Print KVM and userfaultfd capabilities");
    caps->callback([] {
        foldvm::Kvm kvm;
        std::cout << kvm.caps().describe() << "\n";
    });

    auto* schema = app.add_subcommand(
        "config-schema", "Print every configuration model (fields, types, ranges) as JSON");
    schema->callback([] { std::cout << foldvm::config_schema().dump(2) << "\n"; });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const foldvm::InvalidInput& e) {
        std::cerr << "foldvm: error: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "foldvm: error: " << e.what() << "\n";
        return 1;
    }
    return status;
}
