// The scaffolding of a console page that lists resources and edits them in a dialog: the table,
// the "Add …" button, the row's Edit button, and which one is being edited.
import { type ReactNode, useState } from 'react';
import { Card, Empty, LoadError, Page } from './index';

export interface Column<T> {
  header: string;
  cell: (item: T) => ReactNode;
  className?: string;
}

export interface TableProps<T> {
  /** Undefined while loading: the table's head, without rows. */
  items: T[] | undefined;
  columns: Column<T>[];
  /** Shown instead of the table when there is nothing to list. */
  empty: ReactNode;
  rowKey: (item: T) => string;
  rowTestId?: (item: T) => string;
}

/** A table with a row for each item, or `empty` when there is none. */
export function ResourceTable<T>(props: TableProps<T>) {
  if (props.items?.length === 0) return <Empty>{props.empty}</Empty>;
  return (
    <table>
      <thead>
        <tr>
          {props.columns.map((c, i) => (
            <th key={i}>{c.header}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.items?.map((item) => (
          <tr key={props.rowKey(item)} data-testid={props.rowTestId?.(item)}>
            {props.columns.map((c, i) => (
              <td key={i} className={c.className}>
                {c.cell(item)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What a page's edit dialog is given: the item (undefined: a new one) and how to end. */
export interface EditProps<T> {
  item: T | undefined;
  onClose: () => void;
  onSaved: () => void;
}

/**
 * A page with an "Add …" button, a card listing the items (an Edit button ends each row, then
 * `rowActions`), and `edit` as the dialog for the new or chosen item. `children` follow the card.
 */
export function ResourceListPage<T>(
  props: Omit<TableProps<T>, 'columns'> & {
    title: string;
    addLabel: string;
    error?: string | undefined;
    /** Between the load error and the card (notices). */
    notice?: ReactNode;
    cardTitle?: string;
    cardTestId?: string;
    columns: Column<T>[];
    rowActions?: (item: T) => ReactNode;
    edit: (props: EditProps<T>) => ReactNode;
    /** After a save or delete: reload the list. */
    reload: () => void;
    children?: ReactNode;
  },
) {
  const [editing, setEditing] = useState<{ item: T | undefined } | undefined>();
  const actions: Column<T> = {
    header: '',
    cell: (item) => (
      <>
        <button type="button" className="small secondary" onClick={() => setEditing({ item })}>
          Edit
        </button>
        {props.rowActions && <> {props.rowActions(item)}</>}
      </>
    ),
  };
  return (
    <Page
      title={props.title}
      actions={
        <button type="button" className="primary" onClick={() => setEditing({ item: undefined })}>
          {props.addLabel}
        </button>
      }
    >
      <LoadError error={props.error} />
      {props.notice}
      <Card title={props.cardTitle} testId={props.cardTestId}>
        <ResourceTable {...props} columns={[...props.columns, actions]} />
      </Card>
      {props.children}
      {editing &&
        props.edit({
          item: editing.item,
          onClose: () => setEditing(undefined),
          onSaved: () => {
            setEditing(undefined);
            props.reload();
          },
        })}
    </Page>
  );
}
