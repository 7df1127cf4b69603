# SPDX-License-Identifier: GPL-2.0-only
#
# Top-level entry points; everything is done in tools/testing/tdx.
#
#   make               build the guest images (and the cffi ABI module, the bytecode)
#   make run_tests     run the suite (KTAP on stdout)
#   make check         run the project's own tests
#   make install INSTALL_PATH=DIR | emit_tests | gen_tar | clean | bench
#
# O=DIR or OUTPUT=DIR puts build output elsewhere (relative paths are taken
# from the directory make was started in); V=1 shows full commands.

TDX_DIR := tools/testing/tdx

ifneq ($(O),)
OUTPUT := $(abspath $(O))
else ifneq ($(OUTPUT),)
override OUTPUT := $(abspath $(OUTPUT))
endif
# --no-print-directory: `make run_tests > log` must hold KTAP, not make's chatter.
SUBMAKE := $(MAKE) --no-print-directory -C $(TDX_DIR) $(if $(OUTPUT),OUTPUT=$(OUTPUT)) \
	$(if $(INSTALL_PATH),INSTALL_PATH=$(abspath $(INSTALL_PATH)))

.PHONY: all run_tests check install emit_tests gen_tar clean bench mutate

all run_tests check install gen_tar clean bench mutate:
	@$(SUBMAKE) $@

emit_tests:
	@$(SUBMAKE) -s $@
