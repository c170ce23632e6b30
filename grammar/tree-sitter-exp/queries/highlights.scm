; Highlights for .exp pipeline files. Only the standard capture names of
; tree-sitter's highlighter (plus dotted refinements of them, which fall back
; to their prefix) and no predicates, so the same file works in Neovim, Zed
; and `tree-sitter highlight`; editors/helix/queries/exp/highlights.scm is the
; same file with Helix's names.

(comment) @comment
(doc_comment) @comment.documentation

[
  "use"
  "seed"
] @keyword

"extends" @keyword

(declaration_kind) @keyword

(declaration
  name: (identifier) @type)

(declaration
  base: (identifier) @type)

(use_declaration
  module: (module_path (identifier) @module))

(use_declaration
  module: (string) @string.special)

(field_path (identifier) @property)

(argument
  name: (identifier) @variable.parameter)

(call
  function: (identifier) @function)

(reference (identifier) @variable)

(number) @number
(unit) @type.builtin
(boolean) @constant.builtin

(string) @string
(escape_sequence) @string.special

"=" @operator

[
  "."
  ","
] @punctuation.delimiter

[
  "{"
  "}"
  "["
  "]"
  "("
  ")"
] @punctuation.bracket
