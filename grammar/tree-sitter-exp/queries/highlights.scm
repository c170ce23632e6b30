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

; Strings where values go; the `use "file"` path above is not one of them.
; Why not a general `(string) @string`: Neovim lets the later pattern win and
; Helix and the tree-sitter CLI the earlier, so overlapping captures would
; colour the path differently per editor.
(field
  value: (string) @string)

(list
  (string) @string)

(call
  (string) @string)

(argument
  value: (string) @string)
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
