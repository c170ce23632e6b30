/**
 * @file tree-sitter grammar for `.exp` pipeline files (image-backbone bake-offs).
 * Mirrors grammar/exp.pest; see docs/language.md for the language itself.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const commaSep = (rule) => optional(seq(rule, repeat(seq(',', rule)), optional(',')));

module.exports = grammar({
  name: 'exp',

  extras: ($) => [/\s/, $.comment, $.doc_comment],

  word: ($) => $.identifier,

  // Why: a unit is any name after a number (`4 epochs`), and only the token
  // after it tells a unit from the next field's name (`frozen = 1` then
  // `finetune = 4 epochs`), as the look-ahead in exp.pest does; GLR keeps both
  // readings until one fails.
  conflicts: ($) => [[$.quantity, $._value]],

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) => choice($.use_declaration, $.seed_declaration, $.declaration),

    // `use std.backbones` or `use "./common.exp"`
    use_declaration: ($) => seq('use', field('module', choice($.module_path, $.string))),

    module_path: ($) => seq($.identifier, repeat(seq('.', $.identifier))),

    // `seed 17`
    seed_declaration: ($) => seq('seed', field('value', $.number)),

    // `recipe strong_reg extends adamw_cosine { ... }`
    declaration: ($) => seq(
      field('kind', $.declaration_kind),
      field('name', $.identifier),
      optional(seq('extends', field('base', $.identifier))),
      field('body', $.block),
    ),

    declaration_kind: (_) => choice('data', 'backbone', 'recipe', 'budget', 'score', 'sweep', 'experiment'),

    block: ($) => seq('{', repeat(seq($.field, optional(choice(',', ';')))), '}'),

    // `optimizer.weight_decay = 0.1`
    field: ($) => seq(field('path', $.field_path), '=', field('value', $._value)),

    field_path: ($) => seq($.identifier, repeat(seq('.', $.identifier))),

    _value: ($) => choice(
      $.number,
      $.quantity,
      $.string,
      $.boolean,
      $.list,
      $.record,
      $.call,
      $.reference,
    ),

    list: ($) => seq('[', commaSep(choice($.typed_name, $._value)), ']'),

    // `age: numeric` in `metadata = [...]`: a column with its declared kind.
    typed_name: ($) => seq(
      field('name', choice($.identifier, $.string)),
      ':',
      field('kind', $.identifier),
    ),

    record: ($) => seq('{', repeat(seq($.field, optional(choice(',', ';')))), '}'),

    // `adamw(lr = 2e-3, weight_decay = 0.05)`, `rotate(30 deg)`
    call: ($) => seq(
      field('function', $.identifier),
      '(',
      commaSep(choice($.argument, $._value)),
      ')',
    ),

    argument: ($) => seq(field('name', $.identifier), '=', field('value', $._value)),

    // `24_000 samples`, `90 min`, `95%`: the checker knows which units exist.
    quantity: ($) => seq(field('value', $.number), field('unit', $.unit)),

    unit: ($) => choice('%', $.identifier),

    reference: ($) => $.identifier,

    boolean: (_) => choice('true', 'false'),

    number: (_) => token(seq(
      optional('-'),
      /[0-9][0-9_]*(\.[0-9][0-9_]*)?/,
      optional(/[eE][+-]?[0-9]+/),
    )),

    string: ($) => seq('"', repeat(choice($.string_content, $.escape_sequence)), token.immediate('"')),

    string_content: (_) => token.immediate(prec(1, /[^"\\\n]+/)),

    escape_sequence: (_) => token.immediate(seq('\\', /["\\nt]/)),

    identifier: (_) => /[A-Za-z_][A-Za-z0-9_]*/,

    doc_comment: (_) => token(prec(2, seq('///', /[^\n]*/))),

    comment: (_) => token(prec(1, seq('//', /[^\n]*/))),
  },
});
