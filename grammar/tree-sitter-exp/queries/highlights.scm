; Highlights for .exp pipeline files. Only the standard capture names of
; tree-sitter's highlighter (one dotted refinement, @comment.documentation,
; falls back to @comment everywhere) and no predicates, so the same file works
; in Neovim, Helix, Zed and `tree-sitter highlight`.

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
