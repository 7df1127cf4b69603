# SPDX-License-Identifier: GPL-2.0-only
"""The mutation operators: kernel-style one-line mistakes, as cosmic-ray operators.

A mutant is one mistake a kernel developer makes in one line and review can
miss: a bound off by one (`<` for `<=`, a constant +-1), a missing check (the
condition of an `if` that returns or raises never true), the wrong errno
(EINVAL <-> EFAULT <-> ENOTTY), the wrong constant of a family (another
KVM_EXIT_*, TDVMCALL_STATUS_*), the wrong register (R10 for R11), swapped
arguments, wrong precedence (parentheses dropped where they mattered), `|`
for `&`, `<<` for `>>`, a lost `!` or `~`, `-errno` returned as `+errno`.

cosmic-ray's core operators cover part of that; KERNEL_CORE names the ones
kept (its full set, every binary operator into every other, is mostly
mistakes nobody makes: `a ** b` for `a | b`).  The others are defined here.
install() makes cosmic-ray see exactly this set, under the provider names
"core" and "tdx", in every process that enumerates or applies mutations.
"""

import ast
import errno as _errno_mod

import parso.python.tree as ptree

from cosmic_ray.operators.operator import Example, Operator

# cosmic-ray's own operators that are kernel-style mistakes.
KERNEL_CORE = (
    # off-by-one bounds
    "ReplaceComparisonOperator_Lt_LtE", "ReplaceComparisonOperator_LtE_Lt",
    "ReplaceComparisonOperator_Gt_GtE", "ReplaceComparisonOperator_GtE_Gt",
    # inverted tests
    "ReplaceComparisonOperator_Eq_NotEq", "ReplaceComparisonOperator_NotEq_Eq",
    "ReplaceComparisonOperator_Is_IsNot", "ReplaceComparisonOperator_IsNot_Is",
    "ReplaceUnaryOperator_Delete_Not",
    # wrong bit operation / arithmetic
    "ReplaceBinaryOperator_BitAnd_BitOr", "ReplaceBinaryOperator_BitOr_BitAnd",
    "ReplaceBinaryOperator_LShift_RShift", "ReplaceBinaryOperator_RShift_LShift",
    "ReplaceBinaryOperator_Add_Sub", "ReplaceBinaryOperator_Sub_Add",
    "ReplaceUnaryOperator_Delete_Invert", "ReplaceUnaryOperator_USub_UAdd",
    # && for || and the reverse, a flag's default
    "ReplaceAndWithOr", "ReplaceOrWithAnd",
    "ReplaceTrueWithFalse", "ReplaceFalseWithTrue",
)

# The errnos a handler most often gets wrong, in a cycle: each becomes the next;
# any other errno becomes EINVAL (the kernel's default answer).
ERRNO_CYCLE = {"EINVAL": "EFAULT", "EFAULT": "ENOTTY", "ENOTTY": "EINVAL"}
# include/uapi/linux/kvm_para.h has no KVM_ENOTTY.
KVM_ERRNO_CYCLE = {"EINVAL": "EFAULT", "EFAULT": "EINVAL"}
ERRNO_NAMES = frozenset(_errno_mod.errorcode.values())

# x86 encoding order (emu/regs.py); a register becomes its neighbour.
GPR_ORDER = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")

# Node types of a binary or unary operator expression in parso's grammar.
OPERATOR_EXPRS = frozenset((
    "or_test", "and_test", "not_test", "comparison", "expr", "xor_expr", "and_expr",
    "shift_expr", "arith_expr", "term", "factor", "power",
))


def _leaf(node, value, cls=ptree.Name):
    """A leaf that replaces `node` (a leaf or a subtree) in the code, keeping its
    leading whitespace and comments."""
    return cls(value, node.start_pos, prefix=node.get_first_leaf().prefix)


def _referenced_name(node):
    """True for a Name leaf that is read as a value: `x`, or the attribute in
    `mod.x`; not a definition, a keyword argument's name, or an import."""
    if not isinstance(node, ptree.Name) or node.is_definition():
        return False
    parent = node.parent
    if parent.type == "trailer" and parent.children[0].value == ".":
        return parent.children[1] is node
    if parent.type == "argument" and parent.children[0] is node and len(parent.children) > 1 \
            and parent.children[1].type == "operator" and parent.children[1].value == "=":
        return False
    return parent.type not in ("import_from", "import_as_name", "dotted_name", "import_as_names",
                               "funcdef", "classdef", "param")


def _errno_replacement(name):
    if name.startswith("KVM_") and name[4:] in ERRNO_NAMES:
        return "KVM_" + KVM_ERRNO_CYCLE.get(name[4:], "EINVAL")
    if name in ERRNO_NAMES:
        return ERRNO_CYCLE.get(name, "EINVAL")
    return None


class ErrnoSwap(Operator):
    """The wrong errno: EINVAL -> EFAULT -> ENOTTY -> EINVAL, any other -> EINVAL
    (KVM_E* hypercall errnos likewise, within kvm_para.h's set)."""

    def mutation_positions(self, node):
        if _referenced_name(node):
            new = _errno_replacement(node.value)
            if new is not None and new != node.value:
                yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        node.value = _errno_replacement(node.value)
        return node

    @classmethod
    def examples(cls):
        return (
            Example("err = errno.EINVAL", "err = errno.EFAULT"),
            Example("err = errno.EFAULT", "err = errno.ENOTTY"),
            Example("err = errno.ENOTTY", "err = errno.EINVAL"),
            Example("err = errno.EIO", "err = errno.EINVAL"),
            Example("ret = abi.KVM_EINVAL", "ret = abi.KVM_EFAULT"),
        )


def _family(name):
    """'KVM_EXIT_IO' -> 'KVM_EXIT_': the prefix shared by a family of constants."""
    if not name.isupper() or "_" not in name.strip("_"):
        return None
    return name[:name.rindex("_") + 1]


def _qualifier(node):
    """'abi' for `abi.KVM_EXIT_IO`, '' for a bare name."""
    parent = node.parent
    if parent.type == "trailer":
        previous = parent.get_previous_sibling()
        return previous.get_code(include_prefix=False) if previous is not None else ""
    return ""


_SIBLINGS = {}


def _siblings(node):
    """Constants of `node`'s family that its module uses with the same
    qualifier, sorted (cached per module tree)."""
    root = node.get_root_node()
    cached = _SIBLINGS.get(id(root))
    if cached is None or cached[0] is not root:
        names = {}
        stack = [root]
        while stack:
            n = stack.pop()
            if isinstance(n, ptree.Name):
                family = _family(n.value)
                if family and _referenced_name(n) and _errno_replacement(n.value) is None:
                    names.setdefault((_qualifier(n), family), set()).add(n.value)
            elif hasattr(n, "children"):
                stack.extend(n.children)
        cached = (root, {k: sorted(v) for k, v in names.items()})
        _SIBLINGS[id(root)] = cached
    family = _family(node.value)
    return cached[1].get((_qualifier(node), family), [])


class ConstantSwap(Operator):
    """The wrong constant of a family: KVM_EXIT_IO for KVM_EXIT_MMIO, another
    TDVMCALL_STATUS_*; the replacement is the next name (sorted) of the same
    family and qualifier that the module itself uses."""

    def _replacement(self, node):
        if not _referenced_name(node) or _errno_replacement(node.value) is not None:
            return None
        family = _family(node.value)
        if family is None:
            return None
        siblings = _siblings(node)
        if len(siblings) < 2 or node.value not in siblings:
            return None
        return siblings[(siblings.index(node.value) + 1) % len(siblings)]

    def mutation_positions(self, node):
        if self._replacement(node) is not None:
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        node.value = self._replacement(node)
        return node

    @classmethod
    def examples(cls):
        return (
            Example("x = (abi.KVM_EXIT_IO, abi.KVM_EXIT_MMIO)", "x = (abi.KVM_EXIT_MMIO, abi.KVM_EXIT_MMIO)"),
            Example("x = (abi.KVM_EXIT_IO, abi.KVM_EXIT_MMIO)", "x = (abi.KVM_EXIT_IO, abi.KVM_EXIT_IO)",
                    occurrence=1),
        )


class RegisterSwap(Operator):
    """The wrong register: `.r10` -> `.r11` (the next GPR in x86 order; R15 -> R14)."""

    @staticmethod
    def _replacement(name):
        if name not in GPR_ORDER:
            return None
        i = GPR_ORDER.index(name)
        return GPR_ORDER[i + 1] if i + 1 < len(GPR_ORDER) else GPR_ORDER[i - 1]

    def mutation_positions(self, node):
        if isinstance(node, ptree.Name) and node.parent.type == "trailer" \
                and node.parent.children[0].value == "." and self._replacement(node.value):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        node.value = self._replacement(node.value)
        return node

    @classmethod
    def examples(cls):
        return (
            Example("x = a.r10", "x = a.r11"),
            Example("a.r15 = 0", "a.r14 = 0"),
        )


def _positional_args(arglist):
    """Indexes into arglist.children of its positional arguments."""
    out = []
    for i, child in enumerate(arglist.children):
        if child.type == "operator":
            continue
        if child.type == "argument":       # keyword, *args, **kw, generator
            continue
        if child.type == "star_expr":
            continue
        out.append(i)
    return out


# Calls whose positional arguments commute, or whose swap is no kernel-style
# mistake but a crash any test sees.
COMMUTATIVE_CALLS = frozenset(("min", "max", "zip", "isinstance", "getattr", "setattr", "hasattr"))


class SwapArguments(Operator):
    """Two neighbouring positional arguments swapped: f(gpa, size) -> f(size, gpa),
    _bits(v, 63, 32) -> _bits(v, 32, 63).  Not for string arguments (messages,
    formats, attribute names) nor for calls whose arguments commute."""

    def _pairs(self, node):
        if node.type != "arglist" or node.parent.type != "trailer":
            return []
        callee = node.parent.get_previous_sibling()
        if callee is not None and callee.get_code(include_prefix=False) in COMMUTATIVE_CALLS:
            return []
        args = _positional_args(node)
        out = []
        for a, b in zip(args, args[1:]):
            x, y = node.children[a], node.children[b]
            if b != a + 2 or "string" in (x.type, y.type):
                continue
            if x.get_code(include_prefix=False) != y.get_code(include_prefix=False):
                out.append((a, b))
        return out

    def mutation_positions(self, node):
        for a, b in self._pairs(node):
            yield (node.children[a].start_pos, node.children[b].end_pos)

    def mutate(self, node, index):
        a, b = self._pairs(node)[index]
        first, second = node.children[a], node.children[b]
        p1, p2 = first.get_first_leaf().prefix, second.get_first_leaf().prefix
        first.get_first_leaf().prefix, second.get_first_leaf().prefix = p2, p1
        node.children[a], node.children[b] = second, first
        second.parent = first.parent = node
        return node

    @classmethod
    def examples(cls):
        return (
            Example("f(gpa, size)", "f(size, gpa)"),
            Example("f(a, b, c)", "f(a, c, b)", occurrence=1),
            Example("f(a, b, x=1)", "f(b, a, x=1)"),
        )


class OffByOne(Operator):
    """A constant off by one: every number +1; a number compared against (a
    bound) also -1, so that both edges of a range are asked for."""

    @staticmethod
    def _offsets(node):
        if not isinstance(node, ptree.Number) or node.value.lower().endswith("j"):
            return ()
        parent = node.parent
        if parent.type == "factor":             # -1: the sign belongs to the number
            parent = parent.parent
        return (1, -1) if parent.type == "comparison" else (1,)

    def mutation_positions(self, node):
        for _ in self._offsets(node):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        value = ast.literal_eval(node.value) + self._offsets(node)[index]
        text = hex(value) if node.value.lower().startswith("0x") and value >= 0 else repr(value)
        node.value = text
        return node

    @classmethod
    def examples(cls):
        return (
            Example("x = f(0x3f)", "x = f(0x40)"),
            Example("if size > 64:\n    pass\n", "if size > 65:\n    pass\n"),
            Example("if size > 64:\n    pass\n", "if size > 63:\n    pass\n", occurrence=1),
            Example("x = 1.5", "x = 2.5"),
        )


def _block_leaves_early(suite):
    """True when the block of an if/elif returns or raises at its top level."""
    statements = suite.children if suite.type == "suite" else [suite]
    for stmt in statements:
        if stmt.type == "simple_stmt":
            for small in stmt.children:
                if small.type in ("return_stmt", "raise_stmt"):
                    return True
        elif stmt.type in ("return_stmt", "raise_stmt"):
            return True
    return False


class RemoveCheck(Operator):
    """A missing check: `if <cond>: return/raise ...` whose condition is never true."""

    def _tests(self, node):
        if node.type != "if_stmt":
            return []
        out = []
        children = node.children
        for i, child in enumerate(children):
            if child.type == "keyword" and child.value in ("if", "elif"):
                test, suite = children[i + 1], children[i + 3]
                if _block_leaves_early(suite) and test.get_code(include_prefix=False) != "False":
                    out.append(i + 1)
        return out

    def mutation_positions(self, node):
        for i in self._tests(node):
            yield (node.children[i].start_pos, node.children[i].end_pos)

    def mutate(self, node, index):
        i = self._tests(node)[index]
        replacement = _leaf(node.children[i], "False", ptree.Keyword)
        replacement.parent = node
        node.children[i] = replacement
        return node

    @classmethod
    def examples(cls):
        return (
            Example("if size > MAX:\n    return -1\n", "if False:\n    return -1\n"),
            Example("if a:\n    x = 1\nelif b:\n    raise E\n", "if a:\n    x = 1\nelif False:\n    raise E\n"),
        )


def _parses_differently(before, after):
    try:
        return ast.dump(ast.parse("(%s)" % before, mode="eval")) != \
            ast.dump(ast.parse("(%s)" % after, mode="eval"))
    except SyntaxError:
        return False


class DropParens(Operator):
    """Wrong precedence: the parentheses around an operand that needed them
    dropped, `(gpa >> 12) + n` -> `gpa >> 12 + n` (only where that parses to
    a different expression)."""

    def _applies(self, node):
        if node.type != "atom" or len(node.children) != 3 or node.children[0].value != "(":
            return False
        inner, parent = node.children[1], node.parent
        if inner.type not in OPERATOR_EXPRS or parent.type not in OPERATOR_EXPRS | {"atom_expr"}:
            return False
        if inner.type == parent.type:
            return False
        before = parent.get_code(include_prefix=False)
        code = node.get_code(include_prefix=False)
        return _parses_differently(before, before.replace(code, code[1:-1], 1))

    def mutation_positions(self, node):
        if self._applies(node):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        inner = node.children[1]
        inner.get_first_leaf().prefix = node.children[0].prefix
        inner.parent = node.parent
        return inner

    @classmethod
    def examples(cls):
        return (
            Example("x = (gpa >> 12) + n", "x = gpa >> 12 + n"),
            Example("x = (a | b) & c", "x = a | b & c"),
        )


TDX_OPERATORS = {cls.__name__: cls for cls in (
    OffByOne, ErrnoSwap, ConstantSwap, RegisterSwap, SwapArguments, RemoveCheck, DropParens)}


class _Provider:
    def __init__(self, operators):
        self._operators = dict(operators)

    def __iter__(self):
        return iter(self._operators)

    def __getitem__(self, name):
        return self._operators[name]


def install():
    """Make cosmic-ray use this project's operator set, and only it."""
    import cosmic_ray.plugins
    from cosmic_ray.operators.provider import OperatorProvider

    core = OperatorProvider()
    cosmic_ray.plugins.OPERATOR_PROVIDERS.clear()
    cosmic_ray.plugins.OPERATOR_PROVIDERS.update({
        "core": _Provider((name, core[name]) for name in KERNEL_CORE),
        "tdx": _Provider(TDX_OPERATORS),
    })


def names():
    return ["core/" + n for n in KERNEL_CORE] + ["tdx/" + n for n in TDX_OPERATORS]
