; Helix variant of grammar/tree-sitter-exp/queries/highlights.scm: the same
; patterns with Helix's capture names (tests/editor_grammars.rs checks that the
; two differ only by this renaming).

(comment) @comment
(doc_comment) @comment.line.documentation

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
  module: (module_path (identifier) @namespace))

(use_declaration
  module: (string) @string.special)

(field_path (identifier) @variable.other.member)

(argument
  name: (identifier) @variable.parameter)

(call
  function: (identifier) @function)

(reference (identifier) @variable)

(number) @constant.numeric
(unit) @type.builtin
(boolean) @constant.builtin.boolean

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
