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
